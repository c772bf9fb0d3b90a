from django.apps import apps
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpResponse, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.decorators.http import require_GET

from api.api import api
from checkout.views import member as member_views
from finance import urls as finance_urls
from finance.ar_import import urls as ar_import_urls
from finance.reporting import urls as reporting_urls


def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


@require_GET
def favicon(request):
    return HttpResponsePermanentRedirect(static("img/favicon.svg"))


# The sandboxes are routed only where their apps are installed (not in production settings).
sandbox_urls = []
if apps.is_installed("sandboxes.processor"):
    sandbox_urls.append(path("sandbox/processor/v1/", include("sandboxes.processor.urls")))
if apps.is_installed("sandboxes.openwater"):
    sandbox_urls.append(path("sandbox/openwater/", include("sandboxes.openwater.urls")))

# The staff pages at the site root share the "finance" URL namespace: the dashboard
# (reporting's), the ledger's pages and the AR import's.
finance_pages = [
    *reporting_urls.dashboard_urlpatterns,
    *finance_urls.urlpatterns,
    *ar_import_urls.urlpatterns,
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("accounts/login/", member_views.SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", healthz, name="healthz"),
    # For the pages that do not name their icon (the admin's) and clients that ask anyway.
    path("favicon.ico", favicon, name="favicon"),
    *sandbox_urls,
    path("webhooks/", include("integrations.webhook_urls")),
    path("cart/", include("checkout.cart_urls")),
    path("member/", include("checkout.member_urls")),
    path("start/", member_views.start, name="start"),
    path("membership/", include("finance.membership.urls")),
    path("reports/", include("finance.reporting.urls")),
    path("integrations/openwater/", include("integrations.openwater.urls")),
    path("invoice-sync/", include("integrations.sync_urls")),
    path("settings/", include("finance.setup_urls")),
    path("", include((finance_pages, "finance"))),
]

# The product's 500 page, rendered with the request (its header and a way back).
handler500 = "core.error_pages.server_error"
