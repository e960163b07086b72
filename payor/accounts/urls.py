"""``/accounts/wallet/…``: wallet sign-in and the Wallets page (mounted before allauth's ``/accounts/`` URLs)."""

from django.urls import path

from payor.accounts import views

app_name = "wallets"

urlpatterns = [
    path("wallet/", views.wallet_list_view, name="list"),
    path("wallet/sign-in/", views.wallet_sign_in_view, name="sign_in"),
    path("wallet/unlink/", views.wallet_unlink_view, name="unlink"),
]
