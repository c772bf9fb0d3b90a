"""Login required everywhere except the login page, static files, health and the API."""

from django.conf import settings
from django.contrib.auth.views import redirect_to_login

# The admin has its own login page; the JSON API and the sandbox servers answer 401
# themselves (token / API-key auth); processor webhooks check their signatures.
PUBLIC_PREFIXES = (
    "/accounts/login/",
    "/static/",
    "/healthz",
    "/api/",
    "/admin/",
    "/sandbox/processor/",
    "/sandbox/openwater/",
    "/webhooks/",
)


class LoginRequiredMiddleware:
    """Send anonymous users to the login page, keeping where they were going."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if not request.user.is_authenticated and not path.startswith(PUBLIC_PREFIXES):
            return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        return self.get_response(request)
