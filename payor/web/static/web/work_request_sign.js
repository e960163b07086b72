/*
 * Accepting a work request with a wallet signature: sign the EIP-712 acceptance in the browser wallet, then post
 * the accept form. Hand-written, no libraries, no inline script (CSP-safe); the pattern of invoice_sign.js.
 *
 * The form #accept-form carries data-typed-data-url (GET /api/v1/work-requests/{id}/typed-data): the server builds
 * the typed data (the terms' SHA-256 among it) for the wallet's chain; the wallet signs it with
 * eth_signTypedData_v4; the signature and chain id go into the form and the form is posted, where the accept
 * service checks the hash and verifies the signature against the user's linked wallets. Without a wallet the
 * plain "Accept" button still works (the signature is optional).
 */
(function () {
  "use strict";

  var USER_REJECTED = 4001;

  function show(statusEl, kind, text) {
    statusEl.replaceChildren();
    if (!text) return;
    var alert = document.createElement("div");
    alert.className = "alert alert-" + kind + " mb-0 mt-2";
    alert.setAttribute("role", kind === "danger" ? "alert" : "status");
    alert.textContent = text;
    statusEl.appendChild(alert);
  }

  function walletMessage(error) {
    if (error && error.code === USER_REJECTED) return "You cancelled the request in your wallet. Nothing was signed.";
    if (error && error.message) return error.message;
    return "Something went wrong talking to your wallet. Try again, or accept without a signature.";
  }

  async function problemText(response) {
    var type = response.headers.get("Content-Type") || "";
    if (type.indexOf("json") === -1) return "The server answered " + response.status + ". Reload the page and try again.";
    var body = await response.json();
    return (body.detail || body.title || "The request was refused.") + (body.code ? " (" + body.code + ")" : "");
  }

  async function sign(form, statusEl) {
    var ethereum = window.ethereum;
    if (!ethereum || typeof ethereum.request !== "function") {
      throw new Error("No Ethereum wallet was found in this browser. You can accept without a signature.");
    }
    var accounts = await ethereum.request({ method: "eth_requestAccounts" });
    if (!accounts || !accounts.length) throw new Error("Your wallet shared no account. Unlock it and try again.");
    var chainId = parseInt(await ethereum.request({ method: "eth_chainId" }), 16);
    show(statusEl, "info", "Preparing the terms to sign…");
    var url = form.dataset.typedDataUrl + "?chain_id=" + chainId;
    var response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(await problemText(response));
    var typed = await response.json();
    show(statusEl, "info", "Check your wallet and sign the acceptance (it costs nothing and sends no transaction).");
    var signature = await ethereum.request({
      method: "eth_signTypedData_v4",
      params: [accounts[0], JSON.stringify(typed)],
    });
    form.querySelector('[name="chain_id"]').value = String(chainId);
    form.querySelector('[name="signature"]').value = signature;
    show(statusEl, "info", "Signed. Recording your acceptance…");
    form.submit();
  }

  function init() {
    var form = document.getElementById("accept-form");
    if (!form) return;
    var button = form.querySelector("[data-sign-accept]");
    var statusEl = form.querySelector("[data-sign-status]");
    if (!button || !form.dataset.typedDataUrl) return;
    button.addEventListener("click", async function () {
      if (button.disabled) return;
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      try {
        await sign(form, statusEl);
      } catch (error) {
        show(statusEl, "danger", walletMessage(error));
        button.disabled = false;
        button.removeAttribute("aria-busy");
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
