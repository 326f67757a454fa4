from django.db import migrations

from marketplace.migration_sql import updated_at_trigger

# A new message can only move last_message_at forward; a removed or moved message (or a
# changed created_at) needs the newest remaining one (index messaging_message_conv_created).
# The recount locks the conversation first and reads after: a READ COMMITTED statement sees
# what was committed when it started, so a message whose insert held the row lock is counted.
LAST_MESSAGE_AT = """
CREATE FUNCTION messaging_message_touch_conversation() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    conversation_ids uuid[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE messaging_conversation
        SET last_message_at = GREATEST(coalesce(last_message_at, NEW.created_at), NEW.created_at)
        WHERE id = NEW.conversation_id;
        RETURN NULL;
    END IF;
    conversation_ids := ARRAY[OLD.conversation_id];
    IF TG_OP = 'UPDATE' AND NEW.conversation_id IS DISTINCT FROM OLD.conversation_id THEN
        conversation_ids := conversation_ids || NEW.conversation_id;
    END IF;
    PERFORM 1 FROM messaging_conversation
    WHERE id = ANY (conversation_ids) ORDER BY id FOR NO KEY UPDATE;
    UPDATE messaging_conversation c
    SET last_message_at = (SELECT max(m.created_at) FROM messaging_message m
                           WHERE m.conversation_id = c.id)
    WHERE c.id = ANY (conversation_ids);
    RETURN NULL;
END;
$$;
CREATE TRIGGER messaging_message_touch_conversation
    AFTER INSERT OR DELETE ON messaging_message
    FOR EACH ROW EXECUTE FUNCTION messaging_message_touch_conversation();
-- Marking a message read changes neither column: the conversation row is left alone.
CREATE TRIGGER messaging_message_touch_conversation_update
    AFTER UPDATE OF conversation_id, created_at ON messaging_message
    FOR EACH ROW
    WHEN ((OLD.conversation_id, OLD.created_at) IS DISTINCT FROM (NEW.conversation_id, NEW.created_at))
    EXECUTE FUNCTION messaging_message_touch_conversation();
"""
LAST_MESSAGE_AT_REVERSE = """
DROP TRIGGER IF EXISTS messaging_message_touch_conversation ON messaging_message;
DROP TRIGGER IF EXISTS messaging_message_touch_conversation_update ON messaging_message;
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
