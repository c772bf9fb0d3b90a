"""Staff pages of invoice sync, mounted at /invoice-sync/."""

from django.urls import path

from integrations.views import sync

app_name = "invoice_sync"
urlpatterns = [
    path("", sync.SyncRecordListView.as_view(), name="sync_list"),
    path("<int:pk>/", sync.SyncRecordDetailView.as_view(), name="sync_detail"),
    path("<int:pk>/edit/", sync.SyncRecordEditView.as_view(), name="sync_edit"),
    path("<int:pk>/resolve/", sync.SyncAttemptResolveView.as_view(), name="sync_resolve"),
]
