"""Staff UI routes of the AR import (mounted by the project at the site root, in the
``finance`` URL namespace)."""

from django.urls import path

from finance.ar_import import views

urlpatterns = [
    path("ar-import/", views.ARImportListView.as_view(), name="ar_import_list"),
    path("ar-import/upload/", views.ARImportUploadView.as_view(), name="ar_import_upload"),
    path("ar-import/<int:pk>/", views.ARImportDetailView.as_view(), name="ar_import_detail"),
    path("ar-import/<int:pk>/post/", views.ARImportPostView.as_view(), name="ar_import_post"),
    path("ar-import/<int:pk>/progress/", views.ARImportProgressView.as_view(), name="ar_import_progress"),
    path("ar-import/<int:pk>/recover/", views.ARImportRecoverView.as_view(), name="ar_import_recover"),
    path("ar-import/<int:pk>/discard/", views.ARImportDiscardView.as_view(), name="ar_import_discard"),
]
