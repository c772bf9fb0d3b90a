"""Every URL pattern of the project, found from the resolver at run time, is closed:

- anonymous visitors are sent to the login page, except under the public prefixes of
  ``core.middleware.PUBLIC_PREFIXES``, which answer 401/403/404/405 themselves
  (never 200 with data, never 500; the login page, health check and API schema excepted);
- a signed-in user with no module levels and no member account gets 403 (or 404);
- a POST without a CSRF token is refused (403), and views that change state refuse GET (405).

One test per URL pattern, so a failure names the page. The admin has its own login and
is walked the same way (anonymous and non-staff users go to the admin login).
"""

import re

import pytest
from django.test import Client

from core.middleware import PUBLIC_PREFIXES
from tests.security.urlwalk import UnknownKwarg, World, url_patterns

pytestmark = pytest.mark.django_db

ROUTES = url_patterns()

# Public pages that answer 200 to anyone, by design: no data in them.
PUBLIC_OK = {
    "login",  # the sign-in form
    "healthz",  # "ok"
    "api-v1:openapi-json",  # the API's schema: shapes, no rows
    "api-v1:openapi-view",  # its documentation page
    "admin:login",
    "sandbox_processor:elements-js",  # the sandbox's card form script, as a processor serves its own
    "favicon",  # the icon: a permanent redirect to its static file
}
# What a public page answers, where it is not a 200.
PUBLIC_STATUS = {"favicon": 301}
# Open to any signed-in user: where a sign-in lands, and signing out.
SIGNED_IN_OK = {
    "start": {302},
    "logout": {302, 405},
    "login": {200, 302},
    "admin:login": {200},  # the admin's sign-in form, shown to a non-staff user
    "admin:logout": {302, 405},
}
# Statuses a public endpoint may answer to a caller without credentials.
REFUSED = {401, 403, 404, 405}
# URL names whose last word says the view changes state: such a view must refuse GET
# even when it has a get() method (a form page is a noun: "new", "upload", "edit").
ACTION_WORDS = {
    "remove",
    "apply",
    "delete",
    "post",
    "reverse",
    "unapply",
    "refund",
    "submit",
    "cancel",
    "ready",
    "reopen",
    "recover",
    "action",
}


def _public(path: str) -> bool:
    return path.startswith(PUBLIC_PREFIXES)


def _changes_state(route) -> bool:
    view = route.view_class
    if (
        view is not None
        and "get" not in getattr(view, "http_method_names", ())
        or (view is not None and not hasattr(view, "get"))
    ):
        return True
    last = route.name.split(":")[-1].replace("-", "_").split("_")[-1]
    return last in ACTION_WORDS


@pytest.fixture
def world(request, django_user_model):
    owner = django_user_model.objects.create_user("walk-owner", password="pw-walk-owner-1")
    return World(make_ledger=lambda: request.getfixturevalue("ledger"), user=owner)


@pytest.fixture
def nobody(django_user_model):
    """Signed in, no module level, no member account, not staff."""
    user = django_user_model.objects.create_user("walk-nobody", password="pw-walk-nobody-1")
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.fixture
def root(django_user_model, world):
    """A superuser (with a member account too, for the member pages) whose client
    checks CSRF the way a browser's requests are checked."""
    from checkout.models import MemberAccount
    from tests.factories import ContactFactory

    user = django_user_model.objects.create_superuser("walk-root", "root@example.org", "pw-walk-root-1")
    MemberAccount.objects.create(user=user, contact=ContactFactory())
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.force_login(user)
    return client


def _location(response) -> str:
    return response.headers.get("Location", "")


@pytest.mark.parametrize("route", ROUTES, ids=[str(r.name) + "|" + r.route for r in ROUTES])
def test_url__closed_to_anonymous_and_unauthorized_and_needs_csrf(route, world, nobody, root):
    try:
        path = _reverse(route, world)
    except UnknownKwarg as exc:
        pytest.fail(f"Cannot walk {route}: {exc}")
    problems = []
    anonymous = Client(raise_request_exception=False)

    # 1. Anonymous.
    for method in ("get", "post"):
        response = getattr(anonymous, method)(path)
        status = response.status_code
        if route.is_admin:
            if route.name == "admin:login" and status == 200:
                continue
            # The admin's logout sends a visitor who is not signed in to the admin index.
            target = "/admin/" if route.name == "admin:logout" else "/admin/login/"
            if not (status == 302 and target in _location(response)) and status != 405:
                problems.append(f"anonymous {method.upper()} → {status} (expected the admin login)")
        elif _public(path):
            if route.name in PUBLIC_OK and status == PUBLIC_STATUS.get(route.name, 200):
                continue
            if status == 302 and "/accounts/login/" in _location(response):
                continue
            allowed = REFUSED | ({400} if method == "post" else set())
            if status not in allowed:
                problems.append(
                    f"anonymous {method.upper()} on a public prefix → {status} (expected one of 401/403/404/405)"
                )
        elif not (status == 302 and _location(response).startswith("/accounts/login/?next=")):
            problems.append(
                f"anonymous {method.upper()} → {status} {_location(response)} (expected the login redirect)"
            )

    # 2. Signed in, no levels, no member account.
    response = nobody.get(path)
    status = response.status_code
    if route.name in SIGNED_IN_OK:
        if status not in SIGNED_IN_OK[route.name]:
            problems.append(f"user without levels GET → {status} (expected {sorted(SIGNED_IN_OK[route.name])})")
    elif route.is_admin:
        if not (status == 302 and "/admin/login/" in _location(response)) and status not in (403, 405):
            problems.append(f"user without levels GET → {status} (expected the admin login)")
    elif _public(path):
        if status not in REFUSED and not (route.name in PUBLIC_OK and status == PUBLIC_STATUS.get(route.name, 200)):
            problems.append(f"user without levels GET on a public prefix → {status}")
    else:
        # 404 only where the URL names an object; 405 for a view that only takes POST.
        allowed = {403} | ({404} if route.kwargs else set()) | ({405} if _changes_state(route) else set())
        if status not in allowed:
            problems.append(f"user without levels GET → {status} (expected {sorted(allowed)})")
        # A POST (CSRF not checked by this client) must be refused too, never carried out.
        status = nobody.post(path, {}).status_code
        allowed = {403} | ({404} if route.kwargs else set()) | ({405} if not _changes_state(route) else set())
        if status not in allowed:
            problems.append(f"user without levels POST → {status} (expected {sorted(allowed)})")

    # 3. CSRF and methods, as a superuser (so that no permission check answers first).
    if not _public(path) or route.is_admin or route.name == "login":
        response = root.post(path, {})
        if response.status_code != 403 or b"CSRF verification failed" not in response.content:
            problems.append(f"superuser POST without a CSRF token → {response.status_code} (expected the CSRF 403)")
        if _changes_state(route) and not route.is_admin:
            response = root.get(path)
            if response.status_code != 405:
                problems.append(f"superuser GET on a state-changing view → {response.status_code} (expected 405)")

    assert not problems, f"{route} at {path}:\n  " + "\n  ".join(problems)


def _reverse(route, world) -> str:
    """The path of ``route`` with the kwargs the world builds for it."""
    from django.urls import reverse

    kwargs = world.kwargs_for(route, public=route.route.startswith(tuple(p.lstrip("/") for p in PUBLIC_PREFIXES)))
    if "<unnamed" not in route.name:
        return reverse(route.name, kwargs=kwargs or None)
    # An unnamed pattern (the admin's old-style object redirect): fill its route text.
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(kwargs[m.group(1)]), route.route)
    if "(?P<" in path or "^" in path:
        raise UnknownKwarg(f"{route} has no name and a regex route: name it so it can be walked")
    return "/" + path


def test_walk__finds_every_namespace():
    """The walk reads the resolver, not a fixed list: every include is in it."""
    namespaces = {r.name.split(":")[0] for r in ROUTES if ":" in r.name}
    assert {"admin", "api-v1", "finance", "cart", "member", "reporting", "openwater"} <= namespaces
    assert len(ROUTES) > 100
