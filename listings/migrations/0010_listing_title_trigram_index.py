# Admin search on the listing title (icontains) uses a trigram index instead of a scan of
# every listing; the expression matches what Django compiles for icontains.
from django.db import migrations


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("listings", "0009_moderation_take_down_and_approval"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS listings_listing_title_trgm ON listings_listing "
            "USING gin ((UPPER(title::text)) gin_trgm_ops);",
            reverse_sql="DROP INDEX CONCURRENTLY IF EXISTS listings_listing_title_trgm;",
        )
    ]
