"""Membership staff pages (mounted at /membership/)."""

from django.urls import path

from finance.membership import views

app_name = "membership"

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("contacts/<int:pk>/", views.ContactMembershipView.as_view(), name="member_detail"),
    path("subscriptions/<int:pk>/bill/", views.BillNextTermView.as_view(), name="bill_next_term"),
    path("runs/", views.RunListView.as_view(), name="run_list"),
    path("runs/new/", views.RunCreateView.as_view(), name="run_new"),
    path("runs/<int:pk>/", views.RunDetailView.as_view(), name="run_detail"),
    path("runs/<int:pk>/progress/", views.RunProgressView.as_view(), name="run_progress"),
    path("runs/<int:pk>/post/", views.RunPostView.as_view(), name="run_post"),
    path("runs/<int:pk>/delete/", views.RunDeleteView.as_view(), name="run_delete"),
    path("runs/<int:pk>/rebuild/", views.RunRebuildView.as_view(), name="run_rebuild"),
    path("dues/new/", views.DuesUploadView.as_view(), name="dues_upload"),
    path("dues/<int:pk>/", views.DuesDetailView.as_view(), name="dues_detail"),
    path("dues/<int:pk>/create/", views.DuesCreateView.as_view(), name="dues_create"),
]
