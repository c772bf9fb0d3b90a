"""Django admin of the API tokens.

API tokens are issued through ``ApiToken.issue``: the add form asks for a user and a
name, and the clear key is shown once, in a message, right after it is created. Only
its SHA-256 hash is stored, and the hash is never displayed.
"""

from django.contrib import admin, messages
from django.utils.html import format_html

from api.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are issued by ``ApiToken.issue``; the key is shown once and never stored."""

    list_display = ("name", "prefix", "user", "created_at", "last_used_at", "revoked")
    list_filter = ("revoked",)
    search_fields = ("name", "=prefix", "user__username")
    list_select_related = ("user",)
    autocomplete_fields = ("user",)
    exclude = ("key_hash",)
    actions = ("revoke",)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("user", "name")
        return ("name", "user", "prefix", "created_at", "last_used_at", "revoked")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        readonly = ["user", "prefix", "created_at", "last_used_at"]
        if obj.revoked:
            readonly.append("revoked")  # revoking is one-way
        return readonly

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        token, key = ApiToken.issue(user=form.cleaned_data["user"], name=form.cleaned_data["name"])
        obj.pk = token.pk
        obj.refresh_from_db()
        obj._state.adding = False
        messages.warning(
            request,
            format_html(
                "API key for “{}”: <code>{}</code> — copy it now; it is not stored and will not be shown again.",
                token.name,
                key,
            ),
        )

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        n = queryset.filter(revoked=False).update(revoked=True)
        self.message_user(request, f"{n} token(s) revoked.", level=messages.SUCCESS)
