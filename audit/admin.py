from django.contrib import admin

from audit.admin_mixins import add_history_to_admin
from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the trail is written by the application and never edited."""

    list_display = ("at", "actor_name", "action", "content_type", "object_repr")
    list_filter = ("action", "content_type")
    search_fields = ("=object_id", "object_repr", "actor_name")
    date_hierarchy = "at"
    show_full_result_count = False
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# The admin loads the apps' admin modules in INSTALLED_APPS order, and this app is listed
# after the apps whose admins show a History section: theirs are registered by now.
add_history_to_admin()
