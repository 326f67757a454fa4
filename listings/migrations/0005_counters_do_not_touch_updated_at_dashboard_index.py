from django.db import migrations, models

LISTING_COUNTERS = "'view_count', 'favorite_count', 'inquiry_count', 'search_vector', 'updated_at'"


class Migration(migrations.Migration):
    dependencies = [
        ("listings", "0004_location_needs_both_coordinates_featured_index"),
        ("marketplace", "0002_updated_at_can_ignore_counter_columns"),
    ]

    operations = [
        migrations.RunSQL(
            f"""
            DROP TRIGGER listings_listing_updated_at ON listings_listing;
            CREATE TRIGGER listings_listing_updated_at BEFORE UPDATE ON listings_listing
                FOR EACH ROW EXECUTE FUNCTION set_updated_at({LISTING_COUNTERS});
            """,
            reverse_sql="""
            DROP TRIGGER listings_listing_updated_at ON listings_listing;
            CREATE TRIGGER listings_listing_updated_at BEFORE UPDATE ON listings_listing
                FOR EACH ROW EXECUTE FUNCTION set_updated_at();
            """,
        ),
        migrations.AddIndex(
            model_name="listing",
            index=models.Index(
                models.F("seller"),
                models.F("status"),
                models.F("updated_at").desc(),
                models.F("id").desc(),
                name="listing_seller_status_updated",
            ),
        ),
    ]
