from django.db import migrations

# The ledger is append-only: every correction is a new row. UPDATE and DELETE are refused row
# by row; TRUNCATE is refused while the table holds rows (an empty table loses nothing, and
# Django's test flush truncates every table). The table owner can still disable the
# triggers deliberately (ALTER TABLE ... DISABLE TRIGGER), which nothing in the app does.
APPEND_ONLY = """
CREATE FUNCTION payments_ledgerentry_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        IF NOT EXISTS (SELECT 1 FROM payments_ledgerentry) THEN
            RETURN NULL;
        END IF;
    END IF;
    RAISE EXCEPTION 'payments_ledgerentry is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege', HINT = 'Write a new ledger row instead.';
END;
$$;
CREATE TRIGGER payments_ledgerentry_no_update_delete
    BEFORE UPDATE OR DELETE ON payments_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION payments_ledgerentry_append_only();
CREATE TRIGGER payments_ledgerentry_no_truncate
    BEFORE TRUNCATE ON payments_ledgerentry
    FOR EACH STATEMENT EXECUTE FUNCTION payments_ledgerentry_append_only();
"""
APPEND_ONLY_REVERSE = """
DROP TRIGGER IF EXISTS payments_ledgerentry_no_update_delete ON payments_ledgerentry;
DROP TRIGGER IF EXISTS payments_ledgerentry_no_truncate ON payments_ledgerentry;
DROP FUNCTION IF EXISTS payments_ledgerentry_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("payments", "0003_transaction_idempotency_key_and_ledger")]

    operations = [migrations.RunSQL(APPEND_ONLY, reverse_sql=APPEND_ONLY_REVERSE)]
