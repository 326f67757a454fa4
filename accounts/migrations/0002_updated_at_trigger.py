from django.db import migrations

from marketplace.migration_sql import updated_at_trigger


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [updated_at_trigger("accounts_user")]
