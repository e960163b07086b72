/*
 * DAO multisig stage of an invoice: sign the EIP-712 decision in the browser wallet and post it.
 * Hand-written, no libraries, no inline script (CSP-safe); the wallet steps are eip712_sign.js (loaded first).
 *
 * The form #sign-form carries data-typed-data-url (GET /api/v1/invoices/{id}/typed-data?role=…): the server
 * builds the typed data for the decision and the wallet's chain; the wallet signs it with
 * eth_signTypedData_v4; the signature and chain id go into the form's fields and the form is posted to the
 * page's action view, where the decision service verifies it against the signer's linked wallets.
 */
(function () {
  "use strict";

  var eip712 = window.PayorEip712;

  async function sign(form, decision, statusEl) {
    var ethereum = window.ethereum;
    if (!ethereum || typeof ethereum.request !== "function") {
      throw new Error(
        "No Ethereum wallet was found in this browser. Sign the typed data shown below elsewhere and paste the signature."
      );
    }
    var signed = await eip712.signTypedData({
      ethereum: ethereum,
      url: function (chainId) {
        return form.dataset.typedDataUrl + "&decision=" + encodeURIComponent(decision) + "&chain_id=" + chainId;
      },
      statusEl: statusEl,
      preparing: "Preparing the decision to sign…",
      prompt: "Check your wallet and sign the decision (it costs nothing and sends no transaction).",
    });
    form.querySelector('[name="action"]').value = decision;
    form.querySelector('[name="chain_id"]').value = String(signed.chainId);
    form.querySelector('[name="signature"]').value = signed.signature;
    eip712.show(statusEl, "info", "Signed. Recording your decision…");
    form.submit();
  }

  function init() {
    var form = document.getElementById("sign-form");
    if (!form) return;
    var statusEl = form.querySelector("[data-sign-status]");
    form.querySelectorAll("[data-sign-decision]").forEach(function (button) {
      button.addEventListener("click", async function () {
        if (button.disabled) return;
        button.disabled = true;
        button.setAttribute("aria-busy", "true");
        try {
          await sign(form, button.dataset.signDecision, statusEl);
        } catch (error) {
          eip712.show(
            statusEl,
            "danger",
            eip712.walletMessage(
              error,
              "Something went wrong talking to your wallet. Try again, or paste a signature below."
            )
          );
          button.disabled = false;
          button.removeAttribute("aria-busy");
        }
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
