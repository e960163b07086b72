"""Sign-In with Ethereum through the real pages, with an injected EIP-1193 wallet that signs with eth-account.

The fake ``window.ethereum`` answers ``eth_requestAccounts`` and ``eth_chainId`` itself and forwards
``personal_sign`` to Python (``page.expose_function``), where a real secp256k1 key signs the exact bytes the
page asked for, as MetaMask would.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account.messages import encode_defunct

from payor.accounts.models import Wallet
from payor.accounts.tests.siwe_helpers import key
from payor.audit.models import AuditEvent
from payor.testing.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

ARTIFACTS = Path("test-artifacts")

FAKE_WALLET = """
(() => {
  const address = %(address)r;
  const chainId = %(chain)r;
  window.ethereum = {
    isMetaMask: false,
    async request({ method, params }) {
      if (method === "eth_requestAccounts" || method === "eth_accounts") return [address];
      if (method === "eth_chainId") return chainId;
      if (method === "personal_sign") {
        if (params[1].toLowerCase() !== address.toLowerCase()) throw { code: 4100, message: "unknown account" };
        return await window.payorTestWalletSign(params[0]);
      }
      throw { code: 4200, message: "unsupported method " + method };
    },
  };
})();
"""


def install_wallet(page, account, chain_id: int = 1) -> list[str]:
    """Give ``page`` a browser wallet holding ``account``; returns the messages it signed."""
    signed: list[str] = []

    def personal_sign(data_hex: str) -> str:
        text = bytes.fromhex(data_hex.removeprefix("0x")).decode("utf-8")
        signed.append(text)
        signature = account.sign_message(encode_defunct(text=text)).signature.hex()
        return signature if signature.startswith("0x") else f"0x{signature}"

    page.expose_function("payorTestWalletSign", personal_sign)
    page.add_init_script(FAKE_WALLET % {"address": account.address, "chain": hex(chain_id)})
    return signed


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_link_a_wallet_then_sign_in_with_it(page, live_server, user):
    account = key("browser")
    signed = install_wallet(page, account)

    # Signed in with the password, the user links the wallet from the Wallets page (user menu).
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill('input[name="login"]', user.email)
    page.fill('input[name="password"]', TEST_PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{live_server.url}/projects/")
    page.goto(f"{live_server.url}/accounts/wallet/")
    assert page.get_by_text("No wallet linked yet").is_visible()
    page.fill('input[name="label"]', "Browser test key")
    page.get_by_role("button", name="Link a wallet").click()
    page.locator("#wallet-table").get_by_text(account.address).wait_for()
    assert page.get_by_text("Browser test key").is_visible()
    wallet = Wallet.objects.get()
    assert (wallet.user, wallet.address, wallet.label) == (user, account.address, "Browser test key")
    assert len(signed) == 1
    assert f"Link this wallet to the Payor account {user.email}." in signed[0]
    assert signed[0].startswith(f"{live_server.url.removeprefix('http://')} wants you to sign in")
    screenshot(page, "wallets-page.png")

    # Signed out, the same wallet signs in: a real session through the real sign-in page.
    page.locator('form[action="/accounts/logout/"]').first.evaluate("form => form.submit()")
    page.wait_for_url(f"{live_server.url}/accounts/login/")
    page.goto(f"{live_server.url}/accounts/login/?next=/accounts/wallet/")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    page.wait_for_url(f"{live_server.url}/accounts/wallet/")
    assert page.locator("#wallet-table").get_by_text(account.address).is_visible()
    assert user.email in page.locator("header").get_by_role("link", name="Open user menu").inner_text()
    assert len(signed) == 2
    assert "Sign in to Payor with this wallet." in signed[1]
    wallet.refresh_from_db()
    assert wallet.last_sign_in_at is not None
    assert AuditEvent.objects.filter(action="auth.wallet_signed_in", actor_id=user.pk).count() == 1
    screenshot(page, "wallet-signed-in.png")


def test_sign_in_with_an_unlinked_wallet_explains_itself(page, live_server, db):
    install_wallet(page, key("stranger"))
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    alert = page.locator("#siwe-sign-in .alert-danger")
    alert.wait_for()
    assert "link the wallet first" in alert.inner_text()
    assert "/accounts/login/" in page.url
    screenshot(page, "wallet-sign-in-unlinked.png")


def test_without_a_wallet_the_page_says_so(page, live_server, db):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    alert = page.locator("#siwe-sign-in .alert-danger")
    alert.wait_for()
    assert "No Ethereum wallet was found" in alert.inner_text()
    screenshot(page, "wallet-sign-in-no-wallet.png")


def test_an_unsupported_network_is_explained(page, live_server, user):
    install_wallet(page, key("goerli"), chain_id=5)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    alert = page.locator("#siwe-sign-in .alert-danger")
    alert.wait_for()
    assert "Switch networks in your wallet" in alert.inner_text()
