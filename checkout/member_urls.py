"""Routes of the member checkout (mounted under member/)."""

from django.urls import path

from checkout.views import member as views

app_name = "member"

urlpatterns = [
    path("", views.MemberHomeView.as_view(), name="home"),
    path("orders/<int:pk>/lines/add/", views.MemberAddProductView.as_view(), name="add_product"),
    path("orders/<int:pk>/lines/<int:line_pk>/remove/", views.MemberRemoveLineView.as_view(), name="remove_line"),
    path("orders/<int:pk>/credit/apply/", views.MemberApplyCreditView.as_view(), name="apply_credit"),
    path("orders/<int:pk>/credit/remove/", views.MemberRemoveCreditView.as_view(), name="remove_credit"),
    path("orders/<int:pk>/pay/", views.MemberPayView.as_view(), name="pay"),
    path("orders/<int:pk>/charge/check/", views.MemberChargeResumeView.as_view(), name="charge_resume"),
    path("orders/<int:pk>/receipt/", views.MemberReceiptView.as_view(), name="receipt"),
]
