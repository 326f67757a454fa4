import django.contrib.postgres.search
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.operations import BtreeGinExtension
from django.db import migrations, models
from django.db.models import F, Func, Q

# Best match's candidates are the newest N matches, searched window by window (last day,
# week, month, quarter, the rest; listings.search.ranking). With the publication day in the
# same GIN index as the words (btree_gin), one index scan intersects "these words" with
# "published in this window" and the heap is read only for that intersection; with two
# indexes the planner, misjudging the correlation, read every match of a common word to sort
# it, or computed the title's vector for every row of the window.
PUBLISHED_DAY = "((%(expressions)s AT TIME ZONE 'UTC')::date)"
TITLE_VECTOR = "to_tsvector('marketplace_search'::regconfig, %(expressions)s)"


def day():
    return Func(F("published_at"), template=PUBLISHED_DAY, output_field=models.DateField())


class Migration(migrations.Migration):
    dependencies = [("listings", "0013_search_number_statistics")]

    operations = [
        BtreeGinExtension(),
        migrations.RemoveIndex(model_name="listing", name="listings_listing_title_search"),
        migrations.AddIndex(
            model_name="listing",
            index=GinIndex(
                Func(
                    F("title"),
                    template=TITLE_VECTOR,
                    output_field=django.contrib.postgres.search.SearchVectorField(),
                ),
                day(),
                condition=Q(status="active", visibility="public"),
                name="listings_listing_title_day",
            ),
        ),
        migrations.AddIndex(
            model_name="listing",
            index=GinIndex(
                F("search_vector"),
                day(),
                condition=Q(status="active", visibility="public"),
                name="listings_listing_search_day",
            ),
        ),
    ]
