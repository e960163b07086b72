/*
 * Sign-In with Ethereum (EIP-4361) for Payor's pages. Hand-written, no libraries.
 *
 * The server writes the whole message (POST /api/v1/auth/siwe/nonce); this script only asks the
 * browser wallet (window.ethereum, EIP-1193) for the account and chain, has it sign the message with
 * personal_sign, and posts the signature back:
 *   [data-siwe-sign-in]  sign in: POST data-sign-in-url (form-encoded, CSRF token), then go where told;
 *   [data-siwe-link]     link a wallet to the signed-in account: POST data-link-url (JSON), then reload.
 * Each container holds a [data-siwe-button] and a [data-siwe-status] for messages.
 */
(function () {
  "use strict";

  var USER_REJECTED = 4001;
  var REQUEST_PENDING = -32002;

  function csrfToken() {
    var input = document.querySelector('input[name="csrfmiddlewaretoken"]');
    if (input && input.value) return input.value;
    try {
      var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
      if (headers["X-CSRFToken"]) return headers["X-CSRFToken"];
    } catch (ignored) {
      /* fall through to the cookie */
    }
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function show(statusEl, kind, text) {
    statusEl.replaceChildren();
    if (!text) return;
    var alert = document.createElement("div");
    alert.className = "alert alert-" + kind + " mb-0";
    alert.setAttribute("role", kind === "danger" ? "alert" : "status");
    alert.textContent = text;
    statusEl.appendChild(alert);
  }

  function utf8Hex(text) {
    var bytes = new TextEncoder().encode(text);
    var hex = "0x";
    for (var i = 0; i < bytes.length; i++) hex += bytes[i].toString(16).padStart(2, "0");
    return hex;
  }

  function WalletError(message) {
    this.message = message;
  }

  function walletMessage(error) {
    if (error instanceof WalletError) return error.message;
    if (error && error.code === USER_REJECTED) return "You cancelled the request in your wallet. Nothing was signed.";
    if (error && error.code === REQUEST_PENDING) return "Your wallet already has a request waiting: open the wallet to continue.";
    if (error && error.message) return "The wallet reported an error: " + error.message;
    return "Something went wrong talking to your wallet. Try again.";
  }

  async function problemText(response) {
    var type = response.headers.get("Content-Type") || "";
    if (type.indexOf("json") === -1) {
      if (response.status === 403) return "Your session has expired. Reload the page and try again.";
      return "The server answered " + response.status + ". Try again.";
    }
    var body = await response.json();
    if (body.code === "siwe_chain_unsupported") return body.detail + ". Switch networks in your wallet and try again.";
    if (body.code === "rate_limited") return "Too many attempts. Wait a minute and try again.";
    return body.detail || body.title || "The request was refused.";
  }

  async function walletAccount() {
    var ethereum = window.ethereum;
    if (!ethereum || typeof ethereum.request !== "function") {
      throw new WalletError(
        "No Ethereum wallet was found in this browser. Install a wallet extension such as MetaMask " +
          "(or open this page in your wallet's browser), or use your email and password."
      );
    }
    var accounts = await ethereum.request({ method: "eth_requestAccounts" });
    if (!accounts || !accounts.length) throw new WalletError("Your wallet shared no account. Unlock it and try again.");
    var chainHex = await ethereum.request({ method: "eth_chainId" });
    return { ethereum: ethereum, address: accounts[0], chainId: parseInt(chainHex, 16) };
  }

  async function signNonceMessage(container, purpose, statusEl) {
    var wallet = await walletAccount();
    show(statusEl, "info", "Preparing the message to sign…");
    var response = await fetch(container.dataset.nonceUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({ purpose: purpose, address: wallet.address, chain_id: wallet.chainId }),
    });
    if (!response.ok) throw new WalletError(await problemText(response));
    var issued = await response.json();
    show(statusEl, "info", "Check your wallet and sign the message (it costs nothing and sends no transaction).");
    var signature = await wallet.ethereum.request({
      method: "personal_sign",
      params: [utf8Hex(issued.message), wallet.address],
    });
    return { message: issued.message, signature: signature };
  }

  async function signIn(container, statusEl) {
    var signed = await signNonceMessage(container, "sign_in", statusEl);
    show(statusEl, "info", "Checking the signature…");
    var form = new URLSearchParams({ message: signed.message, signature: signed.signature });
    var next = document.querySelector('input[name="next"]');
    if (next && next.value) form.set("next", next.value);
    var response = await fetch(container.dataset.signInUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: form,
    });
    if (!response.ok) throw new WalletError(await problemText(response));
    var result = await response.json();
    show(statusEl, "success", "Signed in. Redirecting…");
    window.location.assign(result.location);
  }

  async function link(container, statusEl) {
    var signed = await signNonceMessage(container, "link", statusEl);
    var labelInput = container.querySelector('input[name="label"]');
    var response = await fetch(container.dataset.linkUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({
        message: signed.message,
        signature: signed.signature,
        label: labelInput ? labelInput.value : "",
      }),
    });
    if (!response.ok) throw new WalletError(await problemText(response));
    var wallet = await response.json();
    show(
      statusEl,
      "success",
      response.status === 201 ? "Wallet " + wallet.address + " linked." : wallet.address + " was already linked."
    );
    window.setTimeout(function () {
      window.location.reload();
    }, 800);
  }

  function wire(container, action) {
    var button = container.querySelector("[data-siwe-button]");
    var statusEl = container.querySelector("[data-siwe-status]");
    if (!button || !statusEl) return;
    var run = async function (event) {
      event.preventDefault();
      if (button.disabled) return;
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      try {
        await action(container, statusEl);
      } catch (error) {
        show(statusEl, error instanceof WalletError ? "danger" : "warning", walletMessage(error));
      } finally {
        button.disabled = false;
        button.removeAttribute("aria-busy");
      }
    };
    if (container.tagName === "FORM") container.addEventListener("submit", run);
    else button.addEventListener("click", run);
  }

  function init() {
    document.querySelectorAll("[data-siwe-sign-in]").forEach(function (el) {
      wire(el, signIn);
    });
    document.querySelectorAll("[data-siwe-link]").forEach(function (el) {
      wire(el, link);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
