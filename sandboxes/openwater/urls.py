from django.urls import path

from sandboxes.openwater import views

app_name = "openwater_sandbox"
urlpatterns = [
    path("v2/Programs", views.programs, name="programs"),
    path("v2/Invoices", views.invoices, name="invoices"),
    path("v2/Invoices/<int:invoice_id>", views.invoice_detail, name="invoice"),
    path("v2/Users/<int:user_id>", views.user_detail, name="user"),
]
