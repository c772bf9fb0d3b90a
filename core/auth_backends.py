"""Authentication backends: the failed-login lockout (django-axes)."""

from axes.backends import AxesStandaloneBackend
from django.conf import settings


class LoginLockoutBackend(AxesStandaloneBackend):
    """Refuse a username + address pair that failed too often (settings ``AXES_*``).

    Sign-ins over HTTP (the login page, the admin login) pass the request and are
    counted and locked out. ``authenticate()`` called without a request (the test
    client's ``login()``, a shell) has no client address to count, so this backend
    stands aside and leaves the password check to the model backend.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def client_address(request) -> str | None:
    """The address failed sign-ins are counted against (``AXES_CLIENT_IP_CALLABLE``).

    Directly served, it is REMOTE_ADDR. Behind ``TRUSTED_PROXY_COUNT`` reverse proxies
    (the TLS proxy of production), REMOTE_ADDR is the last proxy's, and the client's is
    the entry that many places from the right of X-Forwarded-For: entries further left
    were written by the client and are not trusted.
    """
    proxies = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if proxies:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR")
