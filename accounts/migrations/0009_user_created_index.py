# The admin's user list, newest first (ORDER BY created_at DESC, id DESC LIMIT 100): without this
# index every page sorts the whole users table (3 s at 1M users, bench/admin_bench.py).
# CONCURRENTLY: the build does not block sign-ups.
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("accounts", "0008_user_search_trigram_indexes")]

    operations = [
        AddIndexConcurrently(
            model_name="user",
            index=models.Index(models.F("created_at").desc(), models.F("id").desc(), name="accounts_user_created"),
        ),
    ]
