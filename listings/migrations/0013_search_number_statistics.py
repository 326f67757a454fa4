from django.db import migrations

# listings_listing_number's value column mixes every attribute (years near 2,000, widths near
# 50, mileages near 100,000): its one histogram cannot tell the planner that no "year" is
# below 1,200, so an empty range was walked through every listing of the category. The
# multivariate MCV list of (key, value) holds each attribute's own values (the demo's 1M
# listings have ~3,500 distinct pairs), so the planner sees an empty or narrow range and
# starts from the (key, value) index.
FORWARD = """
CREATE STATISTICS listings_listing_number_key_value (mcv) ON key, value FROM listings_listing_number;
ALTER STATISTICS listings_listing_number_key_value SET STATISTICS 10000;
ANALYZE listings_listing_number;
"""
REVERSE = "DROP STATISTICS IF EXISTS listings_listing_number_key_value;"


class Migration(migrations.Migration):
    dependencies = [("listings", "0012_search_number_attributes")]

    operations = [migrations.RunSQL(FORWARD, reverse_sql=REVERSE)]
