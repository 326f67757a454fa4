# The staff groups (issue 15). Every group reads everything (the view permission of every
# model of the project's apps); each adds the permissions of its actions. The reverse removes
# the groups. Permissions are created here first: Django creates them after migrations run
# (post_migrate), too late for a data migration on a fresh database.
from django.db import migrations

PROJECT_APPS = (
    "marketplace",
    "accounts",
    "analytics",
    "listings",
    "payments",
    "reviews",
    "messaging",
    "moderation",
    "notifications",
    "offers",
    "alerts",
    "privacy",
)
DASHBOARD = "marketplace.view_staff_dashboard"
GROUPS = {
    "Support": [DASHBOARD, "moderation.resolve_report"],
    "Moderator": [
        DASHBOARD,
        "moderation.resolve_report",
        "listings.moderate_listing",
        "listings.approve_listing",
        "reviews.change_review",
        "messaging.moderate_conversation",
        "accounts.moderate_user",
        "accounts.verify_user",
    ],
    "Finance": [DASHBOARD, "payments.refund_transaction", "payments.release_held_payout"],
}


def create_groups(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        # create_permissions skips an app whose models_module is unset, as it is in a
        # migration's state; put back what was there (tests call this with the real registry,
        # where clearing it made every later post_migrate skip creating permissions).
        previous = getattr(app_config, "models_module", None)
        app_config.models_module = previous or True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = previous
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view_all = list(
        Permission.objects.filter(codename__startswith="view_", content_type__app_label__in=PROJECT_APPS)
    )
    for name, labels in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        own = []
        for label in labels:
            app_label, codename = label.split(".")
            own.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.add(*view_all, *own)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("moderation", "0001_reports"),
        ("marketplace", "0003_audit_log"),
        ("accounts", "0008_user_search_trigram_indexes"),
        ("listings", "0010_listing_title_trigram_index"),
        ("messaging", "0007_conversation_moderate_permission"),
        ("payments", "0008_refund_permission_and_staff_decisions"),
        ("reviews", "0005_profile_reviews_index"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
