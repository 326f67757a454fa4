from django.db import migrations

from marketplace.migration_sql import updated_at_trigger

# users.total_sales_count counts the seller's completed transactions.
TOTAL_SALES = """
CREATE FUNCTION payments_transaction_total_sales() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status = 'completed' THEN
        UPDATE accounts_user SET total_sales_count = total_sales_count - 1 WHERE id = OLD.seller_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status = 'completed' THEN
        UPDATE accounts_user SET total_sales_count = total_sales_count + 1 WHERE id = NEW.seller_id;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER payments_transaction_total_sales_write
    AFTER INSERT OR DELETE ON payments_transaction
    FOR EACH ROW EXECUTE FUNCTION payments_transaction_total_sales();
CREATE TRIGGER payments_transaction_total_sales_update
    AFTER UPDATE OF status, seller_id ON payments_transaction
    FOR EACH ROW
    WHEN ((OLD.status, OLD.seller_id) IS DISTINCT FROM (NEW.status, NEW.seller_id))
    EXECUTE FUNCTION payments_transaction_total_sales();
"""
TOTAL_SALES_REVERSE = """
DROP TRIGGER IF EXISTS payments_transaction_total_sales_write ON payments_transaction;
DROP TRIGGER IF EXISTS payments_transaction_total_sales_update ON payments_transaction;
DROP FUNCTION IF EXISTS payments_transaction_total_sales();
"""


class Migration(migrations.Migration):
    dependencies = [("payments", "0001_initial"), ("accounts", "0002_updated_at_trigger")]

    operations = [
        updated_at_trigger("payments_transaction"),
        migrations.RunSQL(TOTAL_SALES, reverse_sql=TOTAL_SALES_REVERSE),
    ]
