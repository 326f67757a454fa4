# Staff moderation of listings (issue 15): the "pending" status (waiting for approval), the
# take-down time and the reason the seller sees, and the two staff permissions.
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("listings", "0008_search_word_lexicon"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="listing",
            options={
                "permissions": [
                    ("moderate_listing", "Can take down and restore listings"),
                    ("approve_listing", "Can approve and decline listings waiting for approval"),
                ]
            },
        ),
        migrations.RemoveConstraint(model_name="listing", name="listings_listing_status_valid"),
        migrations.AddField(
            model_name="listing",
            name="moderation_reason",
            field=models.TextField(blank=True, db_default="", default=""),
        ),
        migrations.AddField(
            model_name="listing",
            name="taken_down_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="listing",
            name="status",
            field=models.CharField(
                choices=[
                    ("draft", "Draft"),
                    ("active", "Active"),
                    ("reserved", "Reserved"),
                    ("sold", "Sold"),
                    ("archived", "Archived"),
                    ("pending", "Waiting for approval"),
                ],
                default="draft",
                max_length=20,
            ),
        ),
        migrations.AddConstraint(
            model_name="listing",
            constraint=models.CheckConstraint(
                condition=models.Q(("status__in", ["draft", "active", "reserved", "sold", "archived", "pending"])),
                name="listings_listing_status_valid",
            ),
        ),
    ]
