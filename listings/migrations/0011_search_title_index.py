import django.contrib.postgres.search
from django.contrib.postgres.indexes import GinIndex
from django.db import migrations
from django.db.models import F, Func, Q


class Migration(migrations.Migration):
    """Best match takes the title matches first (listings.search.ranking): the title's own
    vector, searchable listings only."""

    dependencies = [("listings", "0010_listing_title_trigram_index")]

    operations = [
        migrations.AddIndex(
            model_name="listing",
            index=GinIndex(
                Func(
                    F("title"),
                    template="to_tsvector('marketplace_search'::regconfig, %(expressions)s)",
                    output_field=django.contrib.postgres.search.SearchVectorField(),
                ),
                condition=Q(status="active", visibility="public"),
                name="listings_listing_title_search",
            ),
        ),
    ]
