from django.db import migrations

# Ratings count a review only while it is published, active and its reviewer is not banned
# (the same predicate as reviews.selectors.visible_reviews). They move by deltas of sum and
# count (overall, each detailed rating, and the 1-5 star distribution): exact, no rescan.
# A buyer's review rates the seller (seller_*); a seller's review rates the buyer (buyer_*).
RATINGS = """
DROP TRIGGER IF EXISTS reviews_keep_user_ratings_write ON reviews_review;
DROP TRIGGER IF EXISTS reviews_keep_user_ratings_update ON reviews_review;
DROP FUNCTION IF EXISTS reviews_keep_user_ratings();
DROP FUNCTION IF EXISTS reviews_adjust_rating(uuid, text, bigint, integer);

CREATE FUNCTION reviews_adjust_rating(
    p_user uuid, p_reviewer_type text, p_rating integer, p_communication integer,
    p_quality integer, p_delivery integer, p_sign integer
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($sql$
        UPDATE accounts_user SET
            %1$s_rating_sum = %1$s_rating_sum + $1 * $2,
            %1$s_rating_count = %1$s_rating_count + $2,
            %1$s_rating = CASE WHEN %1$s_rating_count + $2 > 0
                THEN round((%1$s_rating_sum + $1 * $2)::numeric / (%1$s_rating_count + $2), 2) END,
            %1$s_rating_distribution[$1] = %1$s_rating_distribution[$1] + $2,
            %1$s_communication_sum = %1$s_communication_sum + coalesce($3, 0) * $2,
            %1$s_communication_count = %1$s_communication_count + CASE WHEN $3 IS NULL THEN 0 ELSE $2 END,
            %1$s_quality_sum = %1$s_quality_sum + coalesce($4, 0) * $2,
            %1$s_quality_count = %1$s_quality_count + CASE WHEN $4 IS NULL THEN 0 ELSE $2 END,
            %1$s_delivery_sum = %1$s_delivery_sum + coalesce($5, 0) * $2,
            %1$s_delivery_count = %1$s_delivery_count + CASE WHEN $5 IS NULL THEN 0 ELSE $2 END
        WHERE id = $6
    $sql$, CASE WHEN p_reviewer_type = 'buyer' THEN 'seller' ELSE 'buyer' END)
    USING p_rating, p_sign, p_communication, p_quality, p_delivery, p_user;
END;
$$;

-- Whether a review in this state counts. The reviewer's row is read FOR SHARE: a ban (which
-- updates that row) waits for this write to commit, or this write for the ban, so the ban
-- trigger's recount and this one never miss each other.
CREATE FUNCTION reviews_review_counts(p_status text, p_published_at timestamptz, p_reviewer uuid)
RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF p_status <> 'active' OR p_published_at IS NULL THEN
        RETURN false;
    END IF;
    PERFORM 1 FROM accounts_user WHERE id = p_reviewer AND account_status <> 'banned' FOR SHARE;
    RETURN FOUND;
END;
$$;

CREATE FUNCTION reviews_keep_user_ratings() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND reviews_review_counts(OLD.status, OLD.published_at, OLD.reviewer_id) THEN
        PERFORM reviews_adjust_rating(OLD.reviewee_id, OLD.reviewer_type, OLD.rating, OLD.rating_communication,
                                      OLD.rating_quality, OLD.rating_delivery, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND reviews_review_counts(NEW.status, NEW.published_at, NEW.reviewer_id) THEN
        PERFORM reviews_adjust_rating(NEW.reviewee_id, NEW.reviewer_type, NEW.rating, NEW.rating_communication,
                                      NEW.rating_quality, NEW.rating_delivery, 1);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER reviews_keep_user_ratings_write
    AFTER INSERT OR DELETE ON reviews_review
    FOR EACH ROW EXECUTE FUNCTION reviews_keep_user_ratings();
-- Only updates that change what a rating depends on (not a response, a flag count or featuring).
CREATE TRIGGER reviews_keep_user_ratings_update
    AFTER UPDATE ON reviews_review
    FOR EACH ROW
    WHEN ((OLD.rating, OLD.rating_communication, OLD.rating_quality, OLD.rating_delivery, OLD.status,
           OLD.published_at IS NULL, OLD.reviewee_id, OLD.reviewer_id, OLD.reviewer_type)
          IS DISTINCT FROM
          (NEW.rating, NEW.rating_communication, NEW.rating_quality, NEW.rating_delivery, NEW.status,
           NEW.published_at IS NULL, NEW.reviewee_id, NEW.reviewer_id, NEW.reviewer_type))
    EXECUTE FUNCTION reviews_keep_user_ratings();

-- A ban takes the user's counting reviews out of their reviewees' ratings; a reinstatement
-- puts them back. In the ban's own transaction, so it cannot be lost after commit.
CREATE FUNCTION reviews_follow_reviewer_ban() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_sign integer := CASE WHEN NEW.account_status = 'banned' THEN -1 ELSE 1 END;
    r record;
BEGIN
    FOR r IN
        SELECT reviewee_id, reviewer_type, rating, rating_communication, rating_quality, rating_delivery
        FROM reviews_review
        WHERE reviewer_id = NEW.id AND status = 'active' AND published_at IS NOT NULL
        ORDER BY reviewee_id
    LOOP
        PERFORM reviews_adjust_rating(r.reviewee_id, r.reviewer_type, r.rating, r.rating_communication,
                                      r.rating_quality, r.rating_delivery, v_sign);
    END LOOP;
    RETURN NULL;
END;
$$;

CREATE TRIGGER reviews_follow_reviewer_ban
    AFTER UPDATE OF account_status ON accounts_user
    FOR EACH ROW
    WHEN ((OLD.account_status = 'banned') IS DISTINCT FROM (NEW.account_status = 'banned'))
    EXECUTE FUNCTION reviews_follow_reviewer_ban();

-- Flags raised on a review, for the admin's queue.
CREATE FUNCTION reviews_count_flags() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE reviews_review SET flag_count = flag_count + 1 WHERE id = NEW.review_id;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE reviews_review SET flag_count = flag_count - 1 WHERE id = OLD.review_id;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER reviews_count_flags
    AFTER INSERT OR DELETE ON reviews_reviewflag
    FOR EACH ROW EXECUTE FUNCTION reviews_count_flags();
"""

# Reviews written before blind publication were shown at once: they count as published since
# they were written. Then every rating is recomputed once under the new rule.
BACKFILL = """
UPDATE reviews_review SET published_at = created_at WHERE published_at IS NULL AND window_closes_at IS NULL;
UPDATE reviews_review AS r SET flag_count = f.n
    FROM (SELECT review_id, count(*) AS n FROM reviews_reviewflag GROUP BY review_id) AS f
    WHERE f.review_id = r.id;
"""

RATINGS_REVERSE = """
DROP TRIGGER IF EXISTS reviews_count_flags ON reviews_reviewflag;
DROP FUNCTION IF EXISTS reviews_count_flags();
DROP TRIGGER IF EXISTS reviews_follow_reviewer_ban ON accounts_user;
DROP FUNCTION IF EXISTS reviews_follow_reviewer_ban();
DROP TRIGGER IF EXISTS reviews_keep_user_ratings_write ON reviews_review;
DROP TRIGGER IF EXISTS reviews_keep_user_ratings_update ON reviews_review;
DROP FUNCTION IF EXISTS reviews_keep_user_ratings();
DROP FUNCTION IF EXISTS reviews_review_counts(text, timestamptz, uuid);
DROP FUNCTION IF EXISTS reviews_adjust_rating(uuid, text, integer, integer, integer, integer, integer);

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
CREATE TRIGGER reviews_keep_user_ratings_update
    AFTER UPDATE ON reviews_review
    FOR EACH ROW
    WHEN ((OLD.rating, OLD.status, OLD.reviewee_id, OLD.reviewer_type)
          IS DISTINCT FROM (NEW.rating, NEW.status, NEW.reviewee_id, NEW.reviewer_type))
    EXECUTE FUNCTION reviews_keep_user_ratings();
"""


# Every user's ratings under the new rule, once: marketplace.counters.USER_RATINGS's repair as of
# this migration (copied, so a later change there cannot change what this migration did).
RECOMPUTE = "UPDATE accounts_user AS target SET seller_rating_sum = wrong.seller_rating_sum, seller_rating_count = wrong.seller_rating_count, seller_rating = wrong.seller_rating, seller_rating_distribution = wrong.seller_rating_distribution, seller_communication_sum = wrong.seller_communication_sum, seller_communication_count = wrong.seller_communication_count, seller_quality_sum = wrong.seller_quality_sum, seller_quality_count = wrong.seller_quality_count, seller_delivery_sum = wrong.seller_delivery_sum, seller_delivery_count = wrong.seller_delivery_count, buyer_rating_sum = wrong.buyer_rating_sum, buyer_rating_count = wrong.buyer_rating_count, buyer_rating = wrong.buyer_rating, buyer_rating_distribution = wrong.buyer_rating_distribution, buyer_communication_sum = wrong.buyer_communication_sum, buyer_communication_count = wrong.buyer_communication_count, buyer_quality_sum = wrong.buyer_quality_sum, buyer_quality_count = wrong.buyer_quality_count, buyer_delivery_sum = wrong.buyer_delivery_sum, buyer_delivery_count = wrong.buyer_delivery_count FROM (SELECT t.id, coalesce(agg.seller_rating_sum, 0) AS seller_rating_sum, coalesce(agg.seller_rating_count, 0) AS seller_rating_count, coalesce(agg.seller_rating, NULL) AS seller_rating, coalesce(agg.seller_rating_distribution, '{0,0,0,0,0}'::integer[]) AS seller_rating_distribution, coalesce(agg.seller_communication_sum, 0) AS seller_communication_sum, coalesce(agg.seller_communication_count, 0) AS seller_communication_count, coalesce(agg.seller_quality_sum, 0) AS seller_quality_sum, coalesce(agg.seller_quality_count, 0) AS seller_quality_count, coalesce(agg.seller_delivery_sum, 0) AS seller_delivery_sum, coalesce(agg.seller_delivery_count, 0) AS seller_delivery_count, coalesce(agg.buyer_rating_sum, 0) AS buyer_rating_sum, coalesce(agg.buyer_rating_count, 0) AS buyer_rating_count, coalesce(agg.buyer_rating, NULL) AS buyer_rating, coalesce(agg.buyer_rating_distribution, '{0,0,0,0,0}'::integer[]) AS buyer_rating_distribution, coalesce(agg.buyer_communication_sum, 0) AS buyer_communication_sum, coalesce(agg.buyer_communication_count, 0) AS buyer_communication_count, coalesce(agg.buyer_quality_sum, 0) AS buyer_quality_sum, coalesce(agg.buyer_quality_count, 0) AS buyer_quality_count, coalesce(agg.buyer_delivery_sum, 0) AS buyer_delivery_sum, coalesce(agg.buyer_delivery_count, 0) AS buyer_delivery_count FROM accounts_user AS t LEFT JOIN (\n        SELECT r.reviewee_id AS id,\n            sum(r.rating) FILTER (WHERE r.reviewer_type = 'buyer') AS seller_rating_sum,\n            count(*) FILTER (WHERE r.reviewer_type = 'buyer') AS seller_rating_count,\n            round(sum(r.rating) FILTER (WHERE r.reviewer_type = 'buyer')::numeric / nullif(count(*) FILTER (WHERE r.reviewer_type = 'buyer'), 0), 2) AS seller_rating,\n            ARRAY[count(*) FILTER (WHERE r.reviewer_type = 'buyer' AND r.rating = 1), count(*) FILTER (WHERE r.reviewer_type = 'buyer' AND r.rating = 2), count(*) FILTER (WHERE r.reviewer_type = 'buyer' AND r.rating = 3), count(*) FILTER (WHERE r.reviewer_type = 'buyer' AND r.rating = 4), count(*) FILTER (WHERE r.reviewer_type = 'buyer' AND r.rating = 5)]::integer[] AS seller_rating_distribution,\n            sum(r.rating_communication) FILTER (WHERE r.reviewer_type = 'buyer') AS seller_communication_sum,\n            count(r.rating_communication) FILTER (WHERE r.reviewer_type = 'buyer') AS seller_communication_count,\n            sum(r.rating_quality) FILTER (WHERE r.reviewer_type = 'buyer') AS seller_quality_sum,\n            count(r.rating_quality) FILTER (WHERE r.reviewer_type = 'buyer') AS seller_quality_count,\n            sum(r.rating_delivery) FILTER (WHERE r.reviewer_type = 'buyer') AS seller_delivery_sum,\n            count(r.rating_delivery) FILTER (WHERE r.reviewer_type = 'buyer') AS seller_delivery_count,\n            sum(r.rating) FILTER (WHERE r.reviewer_type = 'seller') AS buyer_rating_sum,\n            count(*) FILTER (WHERE r.reviewer_type = 'seller') AS buyer_rating_count,\n            round(sum(r.rating) FILTER (WHERE r.reviewer_type = 'seller')::numeric / nullif(count(*) FILTER (WHERE r.reviewer_type = 'seller'), 0), 2) AS buyer_rating,\n            ARRAY[count(*) FILTER (WHERE r.reviewer_type = 'seller' AND r.rating = 1), count(*) FILTER (WHERE r.reviewer_type = 'seller' AND r.rating = 2), count(*) FILTER (WHERE r.reviewer_type = 'seller' AND r.rating = 3), count(*) FILTER (WHERE r.reviewer_type = 'seller' AND r.rating = 4), count(*) FILTER (WHERE r.reviewer_type = 'seller' AND r.rating = 5)]::integer[] AS buyer_rating_distribution,\n            sum(r.rating_communication) FILTER (WHERE r.reviewer_type = 'seller') AS buyer_communication_sum,\n            count(r.rating_communication) FILTER (WHERE r.reviewer_type = 'seller') AS buyer_communication_count,\n            sum(r.rating_quality) FILTER (WHERE r.reviewer_type = 'seller') AS buyer_quality_sum,\n            count(r.rating_quality) FILTER (WHERE r.reviewer_type = 'seller') AS buyer_quality_count,\n            sum(r.rating_delivery) FILTER (WHERE r.reviewer_type = 'seller') AS buyer_delivery_sum,\n            count(r.rating_delivery) FILTER (WHERE r.reviewer_type = 'seller') AS buyer_delivery_count\n        FROM reviews_review AS r JOIN accounts_user AS reviewer ON reviewer.id = r.reviewer_id\n        WHERE r.status = 'active' AND r.published_at IS NOT NULL AND reviewer.account_status <> 'banned'\n        GROUP BY r.reviewee_id\n    ) AS agg ON agg.id = t.id WHERE (t.seller_rating_sum, t.seller_rating_count, t.seller_rating, t.seller_rating_distribution, t.seller_communication_sum, t.seller_communication_count, t.seller_quality_sum, t.seller_quality_count, t.seller_delivery_sum, t.seller_delivery_count, t.buyer_rating_sum, t.buyer_rating_count, t.buyer_rating, t.buyer_rating_distribution, t.buyer_communication_sum, t.buyer_communication_count, t.buyer_quality_sum, t.buyer_quality_count, t.buyer_delivery_sum, t.buyer_delivery_count) IS DISTINCT FROM (coalesce(agg.seller_rating_sum, 0), coalesce(agg.seller_rating_count, 0), coalesce(agg.seller_rating, NULL), coalesce(agg.seller_rating_distribution, '{0,0,0,0,0}'::integer[]), coalesce(agg.seller_communication_sum, 0), coalesce(agg.seller_communication_count, 0), coalesce(agg.seller_quality_sum, 0), coalesce(agg.seller_quality_count, 0), coalesce(agg.seller_delivery_sum, 0), coalesce(agg.seller_delivery_count, 0), coalesce(agg.buyer_rating_sum, 0), coalesce(agg.buyer_rating_count, 0), coalesce(agg.buyer_rating, NULL), coalesce(agg.buyer_rating_distribution, '{0,0,0,0,0}'::integer[]), coalesce(agg.buyer_communication_sum, 0), coalesce(agg.buyer_communication_count, 0), coalesce(agg.buyer_quality_sum, 0), coalesce(agg.buyer_quality_count, 0), coalesce(agg.buyer_delivery_sum, 0), coalesce(agg.buyer_delivery_count, 0))) AS wrong WHERE target.id = wrong.id"


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0003_blind_publication_flags_moderation"),
        ("accounts", "0005_user_detailed_ratings"),
    ]

    operations = [
        migrations.RunSQL(BACKFILL, reverse_sql=migrations.RunSQL.noop),
        migrations.RunSQL(RATINGS, reverse_sql=RATINGS_REVERSE),
        migrations.RunSQL(RECOMPUTE, reverse_sql=migrations.RunSQL.noop),
    ]
