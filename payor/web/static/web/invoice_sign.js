/*
 * DAO multisig stage of an invoice: sign the EIP-712 decision in the browser wallet and post it.
 * Hand-written, no libraries, no inline script (CSP-safe).
 *
 * The form #sign-form carries data-typed-data-url (GET /api/v1/invoices/{id}/typed-data?role=…): the server
 * builds the typed data for the decision and the wallet's chain; the wallet signs it with
 * eth_signTypedData_v4; the signature and chain id go into the form's fields and the form is posted to the
 * page's action view, where the decision service verifies it against the signer's linked wallets.
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
    return "Something went wrong talking to your wallet. Try again, or paste a signature below.";
  }

  async function problemText(response) {
    var type = response.headers.get("Content-Type") || "";
    if (type.indexOf("json") === -1) return "The server answered " + response.status + ". Reload the page and try again.";
    var body = await response.json();
    return (body.detail || body.title || "The request was refused.") + (body.code ? " (" + body.code + ")" : "");
  }

  async function sign(form, decision, statusEl) {
    var ethereum = window.ethereum;
    if (!ethereum || typeof ethereum.request !== "function") {
      throw new Error(
        "No Ethereum wallet was found in this browser. Sign the typed data shown below elsewhere and paste the signature."
      );
    }
    var accounts = await ethereum.request({ method: "eth_requestAccounts" });
    if (!accounts || !accounts.length) throw new Error("Your wallet shared no account. Unlock it and try again.");
    var chainId = parseInt(await ethereum.request({ method: "eth_chainId" }), 16);
    show(statusEl, "info", "Preparing the decision to sign…");
    var url = form.dataset.typedDataUrl + "&decision=" + encodeURIComponent(decision) + "&chain_id=" + chainId;
    var response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(await problemText(response));
    var typed = await response.json();
    show(statusEl, "info", "Check your wallet and sign the decision (it costs nothing and sends no transaction).");
    var signature = await ethereum.request({
      method: "eth_signTypedData_v4",
      params: [accounts[0], JSON.stringify(typed)],
    });
    form.querySelector('[name="action"]').value = decision;
    form.querySelector('[name="chain_id"]').value = String(chainId);
    form.querySelector('[name="signature"]').value = signature;
    show(statusEl, "info", "Signed. Recording your decision…");
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
          show(statusEl, "danger", walletMessage(error));
          button.disabled = false;
          button.removeAttribute("aria-busy");
        }
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
