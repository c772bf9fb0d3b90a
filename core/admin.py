"""Django admin of the core: module authorizations (also inline on the user admin)."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from core.models import ModuleAuthorization

User = get_user_model()


@admin.register(ModuleAuthorization)
class ModuleAuthorizationAdmin(admin.ModelAdmin):
    list_display = ("user", "module", "level")
    list_filter = ("module", "level")
    search_fields = ("user__username", "user__first_name", "user__last_name", "user__email")
    list_select_related = ("user",)
    autocomplete_fields = ("user",)


class ModuleAuthorizationInline(admin.TabularInline):
    model = ModuleAuthorization
    fields = ("module", "level")
    extra = 0
    max_num = len(ModuleAuthorization._meta.get_field("module").choices)
    verbose_name = "module authorization level (0–8)"
    verbose_name_plural = "module authorization levels (0–8; superusers hold 8 everywhere)"


if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    inlines = (*DjangoUserAdmin.inlines, ModuleAuthorizationInline)

    def audit_objects(self, obj):
        """The user's own changes and those of their module authorization levels."""
        return [obj, *ModuleAuthorization.objects.filter(user=obj)]
