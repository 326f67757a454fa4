from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("accounts", "0006_staff_permissions")]

    operations = [
        migrations.AddField(
            model_name="user",
            name="deleted_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
