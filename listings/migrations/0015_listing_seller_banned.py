import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.conf import settings
from django.db import migrations, models

# A banned seller's listings are hidden (public_listings). The rule used to be a NOT EXISTS
# over the ~0.3 % banned users, which every search count and facet hashed (10-40 ms at 1M
# listings, once per parallel worker) and which kept the planner from index-only scans and
# early stops. It is now a column of the listing, kept by the database:
# - accounts_user AFTER UPDATE OF account_status: the seller's listings follow the status
#   (any path: the ban service, the admin, a queryset update, raw SQL);
# - listings_listing BEFORE INSERT OR UPDATE OF seller_id, seller_banned: the row takes its
#   seller's status, whatever the application wrote (a stale model instance saved after a
#   ban does not unhide the listing).
# updated_at ignores the column: a ban is not an edit of the listing (the seller's dashboard
# orders by updated_at).
LISTING_COUNTERS = "'view_count', 'favorite_count', 'inquiry_count', 'search_vector', 'updated_at'"

FORWARD = f"""
CREATE FUNCTION listings_listing_seller_banned() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.seller_banned := COALESCE(
        (SELECT account_status = 'banned' FROM accounts_user WHERE id = NEW.seller_id), false
    );
    RETURN NEW;
END;
$$;
CREATE TRIGGER listings_listing_seller_banned
    BEFORE INSERT OR UPDATE OF seller_id, seller_banned ON listings_listing
    FOR EACH ROW EXECUTE FUNCTION listings_listing_seller_banned();

CREATE FUNCTION listings_seller_status_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE listings_listing SET seller_banned = (NEW.account_status = 'banned')
     WHERE seller_id = NEW.id AND seller_banned IS DISTINCT FROM (NEW.account_status = 'banned');
    RETURN NULL;
END;
$$;
CREATE TRIGGER listings_seller_status_changed
    AFTER UPDATE OF account_status ON accounts_user
    FOR EACH ROW WHEN (OLD.account_status IS DISTINCT FROM NEW.account_status)
    EXECUTE FUNCTION listings_seller_status_changed();

DROP TRIGGER listings_listing_updated_at ON listings_listing;
CREATE TRIGGER listings_listing_updated_at BEFORE UPDATE ON listings_listing
    FOR EACH ROW EXECUTE FUNCTION set_updated_at({LISTING_COUNTERS}, 'seller_banned');

UPDATE listings_listing SET seller_banned = true
  FROM accounts_user
 WHERE accounts_user.id = listings_listing.seller_id AND accounts_user.account_status = 'banned';
"""

REVERSE = f"""
DROP TRIGGER IF EXISTS listings_seller_status_changed ON accounts_user;
DROP FUNCTION IF EXISTS listings_seller_status_changed();
DROP TRIGGER IF EXISTS listings_listing_seller_banned ON listings_listing;
DROP FUNCTION IF EXISTS listings_listing_seller_banned();
DROP TRIGGER listings_listing_updated_at ON listings_listing;
CREATE TRIGGER listings_listing_updated_at BEFORE UPDATE ON listings_listing
    FOR EACH ROW EXECUTE FUNCTION set_updated_at({LISTING_COUNTERS});
"""

VISIBLE = models.Q(("seller_banned", False), ("status", "active"), ("visibility", "public"))
PUBLISHED_DAY = "((%(expressions)s AT TIME ZONE 'UTC')::date)"
TITLE_VECTOR = "to_tsvector('marketplace_search'::regconfig, %(expressions)s)"


def day():
    return models.Func(models.F("published_at"), output_field=models.DateField(), template=PUBLISHED_DAY)


class Migration(migrations.Migration):
    dependencies = [
        ("listings", "0014_search_candidates_by_day"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="listing",
            name="seller_banned",
            field=models.BooleanField(db_default=False, default=False, editable=False),
        ),
        migrations.RunSQL(FORWARD, reverse_sql=REVERSE),
        # The search's partial indexes hold only the listings anyone may find.
        migrations.RemoveIndex(model_name="listing", name="listings_listing_active_newest"),
        migrations.RemoveIndex(model_name="listing", name="listings_listing_active_price"),
        migrations.RemoveIndex(model_name="listing", name="listings_listing_title_day"),
        migrations.RemoveIndex(model_name="listing", name="listings_listing_search_day"),
        migrations.AddIndex(
            model_name="listing",
            index=models.Index(
                models.OrderBy(models.F("published_at"), descending=True),
                models.OrderBy(models.F("id"), descending=True),
                condition=VISIBLE,
                name="listings_listing_active_newest",
            ),
        ),
        migrations.AddIndex(
            model_name="listing",
            index=models.Index(
                models.F("currency"),
                models.F("price_cents"),
                models.F("id"),
                condition=models.Q(
                    ("price_cents__isnull", False),
                    ("seller_banned", False),
                    ("status", "active"),
                    ("visibility", "public"),
                ),
                name="listings_listing_active_price",
            ),
        ),
        migrations.AddIndex(
            model_name="listing",
            index=django.contrib.postgres.indexes.GinIndex(
                models.Func(
                    models.F("title"),
                    output_field=django.contrib.postgres.search.SearchVectorField(),
                    template=TITLE_VECTOR,
                ),
                day(),
                condition=VISIBLE,
                name="listings_listing_title_day",
            ),
        ),
        migrations.AddIndex(
            model_name="listing",
            index=django.contrib.postgres.indexes.GinIndex(
                models.F("search_vector"), day(), condition=VISIBLE, name="listings_listing_search_day"
            ),
        ),
    ]
