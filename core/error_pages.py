"""The product's error pages (templates/403.html, 404.html, 500.html).

Without DEBUG, Django shows them itself (``handler500`` below renders 500.html with the
request, so the page has the product's header). With DEBUG on, Django shows its
technical 404 and 500 pages instead; ``PRODUCT_ERROR_PAGES`` (on for the demo, ``make
run``) makes ``ProductErrorPagesMiddleware`` show the product's pages there too, while
the console keeps the developer's traceback of a server error (``django.request``).
"""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseServerError
from django.template import loader
from django.utils.log import log_response
from django.views import defaults

log = logging.getLogger("django.request")


def server_error(request, template_name="500.html"):
    """500 with the product's page; without the request's context when that fails too
    (the error may be the database or the session)."""
    try:
        body = loader.render_to_string(template_name, {"request_path": request.path}, request=request)
    except Exception:
        body = loader.render_to_string(template_name, {"request_path": request.path})
    return HttpResponseServerError(body)


class ProductErrorPagesMiddleware:
    """With DEBUG and PRODUCT_ERROR_PAGES on: a missing page (an unknown address or a
    view's Http404) and a server error show the product's 404 and 500 pages."""

    def __init__(self, get_response):
        self.get_response = get_response

    @staticmethod
    def in_use() -> bool:
        return settings.DEBUG and getattr(settings, "PRODUCT_ERROR_PAGES", False)

    def __call__(self, request):
        response = self.get_response(request)
        if not self.in_use():
            return response
        if response.status_code == 404 and getattr(request, "resolver_match", None) is None:
            # No URL pattern matched: Django answered with its technical page.
            page = defaults.page_not_found(request, Http404())
            page._has_been_logged = True
            return page
        return response

    def process_exception(self, request, exception):
        if not self.in_use():
            return None
        if isinstance(exception, Http404):
            response = defaults.page_not_found(request, exception)
            log_response("Not Found: %s", request.path, response=response, request=request)
            return response
        if isinstance(exception, PermissionDenied):
            return None  # Django shows 403.html itself, DEBUG or not
        response = server_error(request)
        log_response("Internal Server Error: %s", request.path, response=response, request=request, exception=exception)
        return response
