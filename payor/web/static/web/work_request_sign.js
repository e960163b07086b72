/*
 * Accepting a work request with a wallet signature: sign the EIP-712 acceptance in the browser wallet, then post
 * the accept form. Hand-written, no libraries, no inline script (CSP-safe); the wallet steps are eip712_sign.js
 * (loaded first), shared with invoice_sign.js.
 *
 * The form #accept-form carries data-typed-data-url (GET /api/v1/work-requests/{id}/typed-data): the server builds
 * the typed data (the terms' SHA-256 among it) for the wallet's chain; the wallet signs it with
 * eth_signTypedData_v4; the signature and chain id go into the form and the form is posted, where the accept
 * service checks the hash and verifies the signature against the user's linked wallets. Without a wallet the
 * plain "Accept" button still works (the signature is optional).
 */
(function () {
  "use strict";

  var eip712 = window.PayorEip712;

  async function sign(form, statusEl) {
    var ethereum = window.ethereum;
    if (!ethereum || typeof ethereum.request !== "function") {
      throw new Error("No Ethereum wallet was found in this browser. You can accept without a signature.");
    }
    var signed = await eip712.signTypedData({
      ethereum: ethereum,
      url: function (chainId) {
        return form.dataset.typedDataUrl + "?chain_id=" + chainId;
      },
      statusEl: statusEl,
      preparing: "Preparing the terms to sign…",
      prompt: "Check your wallet and sign the acceptance (it costs nothing and sends no transaction).",
    });
    form.querySelector('[name="chain_id"]').value = String(signed.chainId);
    form.querySelector('[name="signature"]').value = signed.signature;
    eip712.show(statusEl, "info", "Signed. Recording your acceptance…");
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
        eip712.show(
          statusEl,
          "danger",
          eip712.walletMessage(
            error,
            "Something went wrong talking to your wallet. Try again, or accept without a signature."
          )
        );
        button.disabled = false;
        button.removeAttribute("aria-busy");
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
