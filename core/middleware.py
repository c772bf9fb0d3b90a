"""Login required everywhere except the login page, static files, health and the API;
sessions renewed while they are used."""

import time

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.views import redirect_to_login

# The admin has its own login page; the JSON API and the sandbox servers answer 401
# themselves (token / API-key auth); processor webhooks check their signatures.
PUBLIC_PREFIXES = (
    "/accounts/login/",
    "/static/",
    "/healthz",
    "/favicon.ico",
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


class SessionIdleRenewalMiddleware:
    """Keep a signed-in session alive while it is used, writing it at most once every
    ``SESSION_RENEW_SECONDS``.

    A session ends ``SESSION_COOKIE_AGE`` seconds after it was last saved (its expiry
    date in the session table). Saving it on every request (``SESSION_SAVE_EVERY_REQUEST``)
    cost each page an UPDATE of the session row and a commit; here a request saves it
    only when the last renewal is older than ``SESSION_RENEW_SECONDS``, so the idle time
    a user gets is between ``SESSION_COOKIE_AGE - SESSION_RENEW_SECONDS`` and
    ``SESSION_COOKIE_AGE`` seconds. Sessions without a signed-in user are left alone.
    Goes after ``SessionMiddleware``.
    """

    KEY = "_renewed_at"

    def __init__(self, get_response):
        self.get_response = get_response
        self.every = settings.SESSION_RENEW_SECONDS

    def __call__(self, request):
        session = getattr(request, "session", None)
        if session is not None and session.get(SESSION_KEY) is not None:
            now = int(time.time())
            last = session.get(self.KEY)
            if not isinstance(last, int) or now - last >= self.every:
                session[self.KEY] = now  # marks the session modified: saved with a new expiry
        return self.get_response(request)
