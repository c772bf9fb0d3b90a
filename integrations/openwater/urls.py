from django.urls import path

from integrations.openwater import views

app_name = "openwater"
urlpatterns = [
    path("", views.HubView.as_view(), name="ow_hub"),
    path("add/", views.IntegrationAddView.as_view(), name="ow_integration_add"),
    path("<int:pk>/", views.IntegrationDetailView.as_view(), name="ow_integration_detail"),
    path("<int:pk>/edit/", views.IntegrationEditView.as_view(), name="ow_integration_edit"),
    path("<int:pk>/syncs/", views.SyncListView.as_view(), name="ow_sync_list"),
    path("<int:pk>/syncs/<int:sync_pk>/<slug:action>/", views.SyncActionView.as_view(), name="ow_sync_action"),
    path("<int:pk>/<slug:action>/", views.IntegrationActionView.as_view(), name="ow_integration_action"),
    path(
        "<int:pk>/programs/<int:program_pk>/<slug:action>/",
        views.ProgramActionView.as_view(),
        name="ow_program_action",
    ),
]
