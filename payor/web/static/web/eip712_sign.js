/*
 * Signing EIP-712 typed data in the browser wallet: the part shared by invoice_sign.js (DAO multisig decision) and
 * work_request_sign.js (accepting a work request). Hand-written, no libraries, no inline script (CSP-safe). Load it
 * before either page script.
 *
 * window.PayorEip712 = {show, walletMessage, problemText, signTypedData}:
 *   signTypedData({ethereum, url, statusEl, preparing, prompt}) asks the wallet for an account and its chain id,
 *   fetches the typed data from url(chainId) (the server builds it for that chain), has the wallet sign it with
 *   eth_signTypedData_v4 and resolves to {chainId, signature}. The page fills its form's fields and posts it.
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

  function walletMessage(error, fallbackText) {
    if (error && error.code === USER_REJECTED) return "You cancelled the request in your wallet. Nothing was signed.";
    if (error && error.message) return error.message;
    return fallbackText;
  }

  async function problemText(response) {
    var type = response.headers.get("Content-Type") || "";
    if (type.indexOf("json") === -1) return "The server answered " + response.status + ". Reload the page and try again.";
    var body = await response.json();
    return (body.detail || body.title || "The request was refused.") + (body.code ? " (" + body.code + ")" : "");
  }

  async function signTypedData(options) {
    var ethereum = options.ethereum;
    var statusEl = options.statusEl;
    var accounts = await ethereum.request({ method: "eth_requestAccounts" });
    if (!accounts || !accounts.length) throw new Error("Your wallet shared no account. Unlock it and try again.");
    var chainId = parseInt(await ethereum.request({ method: "eth_chainId" }), 16);
    show(statusEl, "info", options.preparing);
    var response = await fetch(options.url(chainId), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (!response.ok) throw new Error(await problemText(response));
    var typed = await response.json();
    show(statusEl, "info", options.prompt);
    var signature = await ethereum.request({
      method: "eth_signTypedData_v4",
      params: [accounts[0], JSON.stringify(typed)],
    });
    return { chainId: chainId, signature: signature };
  }

  window.PayorEip712 = {
    show: show,
    walletMessage: walletMessage,
    problemText: problemText,
    signTypedData: signTypedData,
  };
})();
