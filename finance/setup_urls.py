"""The settings pages of the staff UI, under /settings/ (namespace ``settings``)."""

from django.urls import path

from finance.views import setup

app_name = "settings"

urlpatterns = [
    path("", setup.PaymentMethodListView.as_view(), name="home"),
    path("payment-methods/", setup.PaymentMethodListView.as_view(), name="method_list"),
    path("payment-methods/new/", setup.PaymentMethodEditView.as_view(), name="method_new"),
    path("payment-methods/<int:pk>/", setup.PaymentMethodEditView.as_view(), name="method_edit"),
    path("payment-method-sets/", setup.PaymentMethodSetListView.as_view(), name="method_set_list"),
    path("payment-method-sets/<int:pk>/", setup.PaymentMethodSetEditView.as_view(), name="method_set_edit"),
    path("gl-accounts/", setup.GLAccountListView.as_view(), name="account_list"),
    path("gl-accounts/new/", setup.GLAccountEditView.as_view(), name="account_new"),
    path("gl-accounts/<int:pk>/", setup.GLAccountEditView.as_view(), name="account_edit"),
    path("users/", setup.UserLevelsListView.as_view(), name="user_list"),
    path("users/<int:pk>/", setup.UserLevelsEditView.as_view(), name="user_levels"),
]
