from django.db import migrations

from marketplace.migration_sql import updated_at_trigger

# Ratings move by deltas of sum and count: exact, and no rescan of the user's reviews.
# A buyer's review rates the seller (seller_rating); a seller's review rates the buyer.
RATINGS = """
CREATE FUNCTION reviews_adjust_rating(p_user uuid, p_reviewer_type text, p_sum bigint, p_count integer)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_reviewer_type = 'buyer' THEN
        UPDATE accounts_user SET
            seller_rating_sum = seller_rating_sum + p_sum,
            seller_rating_count = seller_rating_count + p_count,
            seller_rating = CASE WHEN seller_rating_count + p_count > 0
                THEN round((seller_rating_sum + p_sum)::numeric / (seller_rating_count + p_count), 2) END
        WHERE id = p_user;
    ELSE
        UPDATE accounts_user SET
            buyer_rating_sum = buyer_rating_sum + p_sum,
            buyer_rating_count = buyer_rating_count + p_count,
            buyer_rating = CASE WHEN buyer_rating_count + p_count > 0
                THEN round((buyer_rating_sum + p_sum)::numeric / (buyer_rating_count + p_count), 2) END
        WHERE id = p_user;
    END IF;
END;
$$;

CREATE FUNCTION reviews_keep_user_ratings() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status = 'active' THEN
        PERFORM reviews_adjust_rating(OLD.reviewee_id, OLD.reviewer_type, -OLD.rating, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status = 'active' THEN
        PERFORM reviews_adjust_rating(NEW.reviewee_id, NEW.reviewer_type, NEW.rating, 1);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER reviews_keep_user_ratings_write
    AFTER INSERT OR DELETE ON reviews_review
    FOR EACH ROW EXECUTE FUNCTION reviews_keep_user_ratings();
-- Only updates that change what a rating depends on (not a reply or a featured flag).
CREATE TRIGGER reviews_keep_user_ratings_update
    AFTER UPDATE ON reviews_review
    FOR EACH ROW
    WHEN ((OLD.rating, OLD.status, OLD.reviewee_id, OLD.reviewer_type)
          IS DISTINCT FROM (NEW.rating, NEW.status, NEW.reviewee_id, NEW.reviewer_type))
    EXECUTE FUNCTION reviews_keep_user_ratings();
"""
RATINGS_REVERSE = """
DROP TRIGGER IF EXISTS reviews_keep_user_ratings_write ON reviews_review;
DROP TRIGGER IF EXISTS reviews_keep_user_ratings_update ON reviews_review;
DROP FUNCTION IF EXISTS reviews_keep_user_ratings();
DROP FUNCTION IF EXISTS reviews_adjust_rating(uuid, text, bigint, integer);
"""


class Migration(migrations.Migration):
    dependencies = [("reviews", "0001_initial"), ("accounts", "0002_updated_at_trigger")]

    operations = [
        updated_at_trigger("reviews_review"),
        migrations.RunSQL(RATINGS, reverse_sql=RATINGS_REVERSE),
    ]
