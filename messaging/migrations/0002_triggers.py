from django.db import migrations

from marketplace.migration_sql import updated_at_trigger

LAST_MESSAGE_AT = """
CREATE FUNCTION messaging_message_touch_conversation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE messaging_conversation
        SET last_message_at = GREATEST(coalesce(last_message_at, NEW.created_at), NEW.created_at)
        WHERE id = NEW.conversation_id;
    ELSE
        -- A removed message: the newest remaining one (index messaging_message_conv_created).
        UPDATE messaging_conversation
        SET last_message_at = (SELECT max(created_at) FROM messaging_message
                               WHERE conversation_id = OLD.conversation_id)
        WHERE id = OLD.conversation_id;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER messaging_message_touch_conversation
    AFTER INSERT OR DELETE ON messaging_message
    FOR EACH ROW EXECUTE FUNCTION messaging_message_touch_conversation();
"""
LAST_MESSAGE_AT_REVERSE = """
DROP TRIGGER IF EXISTS messaging_message_touch_conversation ON messaging_message;
DROP FUNCTION IF EXISTS messaging_message_touch_conversation();
"""

# A conversation about a listing is an inquiry: listings.inquiry_count follows them.
INQUIRY_COUNT = """
CREATE FUNCTION messaging_conversation_inquiry_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.listing_id IS NOT NULL THEN
        UPDATE listings_listing SET inquiry_count = inquiry_count - 1 WHERE id = OLD.listing_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.listing_id IS NOT NULL THEN
        UPDATE listings_listing SET inquiry_count = inquiry_count + 1 WHERE id = NEW.listing_id;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER messaging_conversation_inquiry_count_write
    AFTER INSERT OR DELETE ON messaging_conversation
    FOR EACH ROW EXECUTE FUNCTION messaging_conversation_inquiry_count();
CREATE TRIGGER messaging_conversation_inquiry_count_update
    AFTER UPDATE OF listing_id ON messaging_conversation
    FOR EACH ROW WHEN (OLD.listing_id IS DISTINCT FROM NEW.listing_id)
    EXECUTE FUNCTION messaging_conversation_inquiry_count();
"""
INQUIRY_COUNT_REVERSE = """
DROP TRIGGER IF EXISTS messaging_conversation_inquiry_count_write ON messaging_conversation;
DROP TRIGGER IF EXISTS messaging_conversation_inquiry_count_update ON messaging_conversation;
DROP FUNCTION IF EXISTS messaging_conversation_inquiry_count();
"""


class Migration(migrations.Migration):
    dependencies = [("messaging", "0001_initial"), ("listings", "0002_triggers")]

    operations = [
        updated_at_trigger("messaging_conversation"),
        migrations.RunSQL(LAST_MESSAGE_AT, reverse_sql=LAST_MESSAGE_AT_REVERSE),
        migrations.RunSQL(INQUIRY_COUNT, reverse_sql=INQUIRY_COUNT_REVERSE),
    ]
