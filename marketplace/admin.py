"""Admin pieces every app shares."""

from django.contrib import admin


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """A record staff read and never write in the admin: logs, ledgers, decisions. Adding,
    changing and deleting are refused here (and, for the append-only tables, by the database)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
