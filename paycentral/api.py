"""JSON API under /api/v1/ (django-ninja), token auth, OpenAPI schema."""

from ninja import NinjaAPI

api = NinjaAPI(title="Pay Central API", version="1", urls_namespace="api-v1")
