from django.urls import path

from finance.reporting import views
from finance.reporting.dashboard import DashboardView, HealthTileView

app_name = "reporting"
urlpatterns = [
    path("", views.ReportsHomeView.as_view(), name="report_home"),
    path("ar-aging/", views.ARAgingView.as_view(), name="report_ar_aging"),
    path("cash-receipts/", views.CashReceiptsView.as_view(), name="report_cash_receipts"),
    path("open-credits/", views.OpenCreditsView.as_view(), name="report_open_credits"),
    path("batches/", views.BatchSummaryView.as_view(), name="report_batches"),
    path("gl-exports/", views.GLExportListView.as_view(), name="report_gl_exports"),
    path("health/<int:index>/", HealthTileView.as_view(), name="report_health_tile"),
    path("gl-exports/<int:pk>/download/", views.GLExportDownloadView.as_view(), name="report_gl_export_download"),
]

# The dashboard: the staff's start page, at the site root. Mounted by the project in the
# ``finance`` URL namespace, with the ledger's pages ("finance:dashboard").
dashboard_urlpatterns = [
    path("", DashboardView.as_view(), name="dashboard"),
]
