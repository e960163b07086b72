"""Web views for wallets: sign in with Ethereum, and the Wallets settings page. Thin: parse, call one service, render.

Signing in creates a session, so ``wallet_sign_in_view`` is a CSRF-protected POST (login CSRF: another site
cannot sign a visitor into an account of its choosing). It answers JSON for ``payor/siwe.js``:
``{"location": …}`` where to go next (the ``next`` page, or the two-factor step for users who enabled it), or a
problem document with the refusal's ``code`` and ``detail``.
"""

from __future__ import annotations

from allauth.account.utils import get_next_redirect_url, perform_login
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST

from payor.accounts import wallets
from payor.core.errors import DomainError

PROBLEM_CONTENT_TYPE = "application/problem+json"


def _problem(request: HttpRequest, exc: DomainError) -> JsonResponse:
    body = {
        "type": f"urn:payor:problem:{exc.code}",
        "title": exc.title,
        "status": exc.status,
        "code": exc.code,
        "detail": exc.detail,
        "instance": request.path,
    }
    return JsonResponse(body, status=exc.status, content_type=PROBLEM_CONTENT_TYPE)


@sensitive_post_parameters("signature")
@require_POST
@csrf_protect
def wallet_sign_in_view(request: HttpRequest) -> HttpResponse:
    try:
        user = wallets.wallet_sign_in(
            message=request.POST.get("message", ""),
            signature=request.POST.get("signature", ""),
            domain=request.get_host(),
            scheme=request.scheme or "https",
            request=request,
        )
    except DomainError as exc:
        return _problem(request, exc)
    # allauth's login: its stages run (two-factor authentication for users who enabled it), then django's login()
    # with allauth's backend, the user_logged_in signal and the "signed in" message.
    response = perform_login(request, user, redirect_url=get_next_redirect_url(request))
    if response.status_code in (301, 302, 303) and response.has_header("Location"):
        return JsonResponse({"location": response["Location"]})
    return response


@login_required
@require_GET
def wallet_list_view(request: HttpRequest) -> HttpResponse:
    rows = [
        {"wallet": wallet, "chain": wallets.chain_name(wallet.chain_id)}
        for wallet in wallets.wallet_list(viewer=request.user)
    ]
    return render(
        request,
        "accounts/wallets.html",
        {
            "rows": rows,
            "chains": wallets.chains_allowed_named(),
            "label_max": wallets.LABEL_MAX,
        },
    )


@login_required
@require_POST
def wallet_unlink_view(request: HttpRequest) -> HttpResponse:
    address = request.POST.get("address", "")
    try:
        wallets.wallet_unlink(actor=request.user, address=address, request=request)  # type: ignore[arg-type]
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, f"Wallet {address} unlinked: it can no longer sign in or sign for you.")
    return redirect("wallets:list")
