"""Routes of the staff cart (mounted under cart/)."""

from django.urls import path

from checkout.views import cart as views

app_name = "cart"

urlpatterns = [
    path("", views.CartHomeView.as_view(), name="home"),
    path("start/", views.CartStartView.as_view(), name="start"),
    path("<int:pk>/", views.CartDetailView.as_view(), name="detail"),
    path("<int:pk>/lines/add/", views.AddProductView.as_view(), name="add_product"),
    path("<int:pk>/lines/<int:line_pk>/remove/", views.RemoveLineView.as_view(), name="remove_line"),
    path("<int:pk>/credit/apply/", views.ApplyOwnCreditView.as_view(), name="apply_credit"),
    path("<int:pk>/credit/other/", views.CreditSearchView.as_view(), name="search_credit"),
    path("<int:pk>/credit/other/apply/", views.ApplyOtherCreditView.as_view(), name="apply_other_credit"),
    path("<int:pk>/credit/remove/", views.RemoveCreditView.as_view(), name="remove_credit"),
    path("<int:pk>/prepayment/", views.PrepaymentView.as_view(), name="prepayment"),
    path("<int:pk>/submit/", views.SubmitView.as_view(), name="submit"),
    path("<int:pk>/charge/check/", views.ChargeResumeView.as_view(), name="charge_resume"),
    path("<int:pk>/cancel/", views.CancelView.as_view(), name="cancel"),
]
