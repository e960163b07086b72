"""A local server that speaks the part of Stripe's API Payor uses — for tests and the demo, never production.

Run it with ``payor stripe-local`` (the demo starts it as a supervised child) or in-process with
:func:`start`. The SDK reaches it through ``base_addresses`` (``settings.STRIPE_API_BASE``). State lives in
memory, or also in a JSON state file (``state_file`` / ``--state-file``: what Stripe itself would remember across
a restart — accounts, transfers, payouts, balances, idempotent answers, events — loaded at start and rewritten
atomically after every POST; ``payor serve`` and the demo seed use ``<PAYOR_DATA_DIR>/stripe-local.json``, so
the connected accounts and transfers the seed made are still there when the demo's server starts). What it
implements, with Stripe's request/response shapes (bodies built from the fixture objects in
``fixtures/fixtures3.json``, Stripe's MIT-licensed OpenAPI fixtures, LICENSE beside it):

* ``POST /v1/accounts``, ``GET /v1/accounts/{id}``, ``POST /v1/account_links``;
* ``POST /v1/transfers`` (checks the destination exists (``resource_missing``), has the ``transfers`` capability
  active (``insufficient_capabilities_for_transfer``) and the platform balance covers it
  (``balance_insufficient``)), ``GET /v1/transfers/{id}``, ``GET /v1/transfers``,
  ``POST /v1/transfers/{id}/reversals``; ``GET /v1/balance``;
* ``Idempotency-Key``: the same key and body replays the first answer with ``Idempotent-Replayed: true``; the same
  key with another body is ``400 idempotency_error``;
* errors in Stripe's shape ``{"error": {"type", "code", "message", "param"}}``;
* webhooks: every change sends an Event, signed like Stripe (``Stripe-Signature: t=<unix>,v1=<HMAC-SHA256 of
  "<t>.<body>" with the endpoint secret>``, the scheme ``stripe.Webhook.construct_event`` verifies) to the
  configured URL, after the answer (or before it, twice, late: see faults).

Control endpoints (not Stripe's), JSON in and out:

* ``POST /_faults`` ``{"next": ["timeout" | "500" | "500_after" | "balance_insufficient" |
  "insufficient_capabilities_for_transfer" | "resource_missing", ...], "path": "/v1/transfers",
  "timeout_seconds": 3, "webhook_delay": 0.5, "webhook_before_response": true, "duplicate_webhooks": true}`` —
  ``timeout`` processes the request and answers only after ``timeout_seconds`` (the client gave up: the outcome is
  unknown to it); ``500`` answers 500 without processing; ``500_after`` processes, then answers 500; an error code
  answers that error. Each queued fault applies to one request whose path starts with ``path``.
* ``POST /_control/accounts/{id}/complete`` — onboarding done: details submitted, ``transfers`` active, payouts
  enabled; sends ``account.updated``.
* ``POST /_control/payouts`` ``{"account", "amount", "currency", "status": "paid"|"failed", "failure_code"}`` —
  a payout of a connected account; sends ``payout.paid`` or ``payout.failed``.
* ``POST /_control/balance`` ``{"currency": "usd", "amount": 100}``; ``POST /_control/webhook`` ``{"url",
  "secret"}``; ``POST /_reset``; ``GET /_state`` (accounts, transfers, payouts, events sent).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

FIXTURES = Path(__file__).parent / "fixtures" / "fixtures3.json"
DEFAULT_BALANCE = 10**12  # minor units per currency on the platform account

_RESOURCES: dict[str, Any] | None = None


def fixture(name: str) -> dict[str, Any]:
    """A deep copy of the fixture object ``name`` (``account``, ``transfer``, ``payout``, ``event``...)."""
    global _RESOURCES
    if _RESOURCES is None:
        _RESOURCES = json.loads(FIXTURES.read_text())["resources"]
    return copy.deepcopy(_RESOURCES[name])


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header for ``payload``: ``t=<unix>,v1=<hex HMAC-SHA256("<t>.<payload>")>``."""
    moment = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{moment}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={moment},v1={digest}"


def form_decode(body: str) -> dict[str, Any]:
    """Stripe's form encoding (``metadata[vendor_id]=…``, ``capabilities[transfers][requested]=true``) as a dict."""
    result: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = key.replace("]", "").split("[")
        target = result
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return result


class StripeError(Exception):
    def __init__(self, status: int, code: str, message: str, *, param: str | None = None, kind: str = "") -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param
        self.kind = kind or ("api_error" if status >= 500 else "invalid_request_error")

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.kind, "message": self.message}
        if self.code:
            error["code"] = self.code
        if self.param:
            error["param"] = self.param
        return {"error": error}


ERRORS = {
    "balance_insufficient": (
        400,
        "You have insufficient available funds in your Stripe account. Try adding funds directly to your available "
        "balance by creating Top-ups.",
        None,
    ),
    "insufficient_capabilities_for_transfer": (
        400,
        "Your destination account needs to have at least one of the following capabilities enabled: transfers, "
        "crypto_transfers, legacy_payments",
        "destination",
    ),
    "resource_missing": (404, "No such destination", "destination"),
}


@dataclass
class Faults:
    next: list[str] = field(default_factory=list)
    path: str = "/v1/"
    timeout_seconds: float = 3.0
    webhook_delay: float = 0.0
    webhook_before_response: bool = False
    duplicate_webhooks: bool = False


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class StripeState:
    """Everything the server remembers, behind one lock."""

    #: What a state file keeps (not the faults, the request log or the webhook delivery log).
    PERSISTED = ("accounts", "transfers", "payouts", "balance", "events")

    def __init__(self, *, webhook_url: str = "", webhook_secret: str = "", state_file: Path | None = None) -> None:
        self.lock = threading.RLock()
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.state_file = Path(state_file) if state_file else None
        self.reset()
        self.load()

    def load(self) -> None:
        """Read the state file, if there is one (a missing file is a fresh Stripe)."""
        if self.state_file is None or not self.state_file.exists():
            return
        data = json.loads(self.state_file.read_text())
        with self.lock:
            for name in self.PERSISTED:
                setattr(self, name, data.get(name, getattr(self, name)))
            self.idempotency.update(
                (key, (fingerprint, Answer(**answer)))
                for key, (fingerprint, answer) in data.get("idempotency", {}).items()
            )

    def save(self) -> None:
        """Rewrite the state file (atomically: a temporary file renamed over it); no file, nothing to do."""
        if self.state_file is None:
            return
        with self.lock:
            data: dict[str, Any] = {name: getattr(self, name) for name in self.PERSISTED}
            data["idempotency"] = {
                key: (fingerprint, {"status": a.status, "body": a.body, "headers": a.headers})
                for key, (fingerprint, a) in self.idempotency.items()
            }
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.state_file.with_name(self.state_file.name + ".tmp")
            temporary.write_text(json.dumps(data))
            os.replace(temporary, self.state_file)

    def reset(self) -> None:
        with self.lock:
            self.accounts: dict[str, dict[str, Any]] = {}
            self.transfers: dict[str, dict[str, Any]] = {}
            self.payouts: dict[str, dict[str, Any]] = {}
            self.balance: dict[str, int] = {}
            self.idempotency: dict[str, tuple[str, Answer]] = {}
            self.events: list[dict[str, Any]] = []
            self.deliveries: list[dict[str, Any]] = []
            self.requests: list[tuple[str, str]] = []
            self.faults = Faults()

    def available(self, currency: str) -> int:
        return self.balance.get(currency, DEFAULT_BALANCE)

    # -- events --------------------------------------------------------------------------------------------

    def event(self, kind: str, obj: dict[str, Any], *, account: str | None = None) -> dict[str, Any]:
        event = fixture("event")
        event.update(
            id=_new_id("evt"),
            type=kind,
            created=int(time.time()),
            data={"object": copy.deepcopy(obj)},
            api_version="2024-06-20",
            livemode=False,
            pending_webhooks=1,
            request={"id": _new_id("req"), "idempotency_key": None},
        )
        if account:
            event["account"] = account
        self.events.append(event)
        return event

    def deliver(self, event: dict[str, Any]) -> None:
        """POST the event, signed, to the webhook URL (once, or twice with ``duplicate_webhooks``)."""
        if not self.webhook_url:
            return
        body = json.dumps(event)
        times = 2 if self.faults.duplicate_webhooks else 1
        for _ in range(times):
            request = urllib.request.Request(  # noqa: S310 — a configured local URL
                self.webhook_url,
                data=body.encode(),
                method="POST",
                headers={
                    "Content-Type": "application/json",
                    "Stripe-Signature": sign(body, self.webhook_secret.split(",")[0].strip()),
                },
            )
            status: int | str
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except (urllib.error.URLError, OSError) as exc:
                status = f"unreachable: {exc}"
            with self.lock:
                self.deliveries.append({"event": event["id"], "type": event["type"], "status": status})

    # -- API -----------------------------------------------------------------------------------------------

    def account_create(self, params: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        account = fixture("account")
        account_id = _new_id("acct")
        account.update(
            id=account_id,
            type=params.get("type", "express"),
            country=params.get("country", "US"),
            email=params.get("email"),
            metadata=params.get("metadata", {}),
            created=int(time.time()),
            details_submitted=False,
            charges_enabled=False,
            payouts_enabled=False,
            capabilities={"transfers": "inactive"},
        )
        account["external_accounts"]["url"] = f"/v1/accounts/{account_id}/external_accounts"
        self.accounts[account_id] = account
        return account, [self.event("account.updated", account)]

    def account_get(self, account_id: str) -> dict[str, Any]:
        if account_id not in self.accounts:
            raise StripeError(404, "resource_missing", f"No such account: '{account_id}'", param="account")
        return self.accounts[account_id]

    def account_link(self, params: dict[str, Any]) -> dict[str, Any]:
        account = self.account_get(str(params.get("account", "")))
        link = fixture("account_link")
        now = int(time.time())
        link.update(created=now, expires_at=now + 300, url=f"{self.base_url}/_onboarding/{account['id']}")
        return link

    def transfer_create(self, params: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        try:
            amount = int(params.get("amount", ""))
        except ValueError:
            raise StripeError(400, "parameter_invalid_integer", "Invalid integer: amount", param="amount") from None
        if amount <= 0:
            raise StripeError(400, "parameter_invalid_integer", "Amount must be positive", param="amount")
        currency = str(params.get("currency", "")).lower()
        destination = str(params.get("destination", ""))
        if destination not in self.accounts:
            raise StripeError(404, "resource_missing", f"No such destination: '{destination}'", param="destination")
        if self.accounts[destination]["capabilities"].get("transfers") != "active":
            status, message, param = ERRORS["insufficient_capabilities_for_transfer"]
            raise StripeError(status, "insufficient_capabilities_for_transfer", message, param=param)
        if amount > self.available(currency):
            status, message, param = ERRORS["balance_insufficient"]
            raise StripeError(status, "balance_insufficient", message, param=param)
        self.balance[currency] = self.available(currency) - amount
        transfer = fixture("transfer")
        transfer_id = _new_id("tr")
        transfer.update(
            id=transfer_id,
            amount=amount,
            amount_reversed=0,
            currency=currency,
            destination=destination,
            destination_payment=_new_id("py"),
            balance_transaction=_new_id("txn"),
            created=int(time.time()),
            description=params.get("description"),
            metadata=params.get("metadata", {}),
            transfer_group=params.get("transfer_group"),
            reversed=False,
        )
        transfer["reversals"]["url"] = f"/v1/transfers/{transfer_id}/reversals"
        self.transfers[transfer_id] = transfer
        return transfer, [self.event("transfer.created", transfer)]

    def transfer_get(self, transfer_id: str) -> dict[str, Any]:
        if transfer_id not in self.transfers:
            raise StripeError(404, "resource_missing", f"No such transfer: '{transfer_id}'", param="id")
        return self.transfers[transfer_id]

    def transfer_reverse(self, transfer_id: str, params: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
        transfer = self.transfer_get(transfer_id)
        left = transfer["amount"] - transfer["amount_reversed"]
        amount = int(params.get("amount") or left)
        if amount <= 0 or amount > left:
            raise StripeError(400, "parameter_invalid_integer", "Reversal amount exceeds the transfer", param="amount")
        reversal = fixture("transfer_reversal")
        reversal.update(
            id=_new_id("trr"),
            object="transfer_reversal",
            amount=amount,
            currency=transfer["currency"],
            created=int(time.time()),
            transfer=transfer_id,
            metadata=params.get("metadata", {}),
        )
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] >= transfer["amount"]
        transfer["reversals"]["data"].append(reversal)
        self.balance[transfer["currency"]] = self.available(transfer["currency"]) + amount
        return reversal, [self.event("transfer.reversed", transfer)]

    base_url = ""


class Handler(BaseHTTPRequestHandler):
    server: LocalStripeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    @property
    def state(self) -> StripeState:
        return self.server.state

    def _send(self, answer: Answer) -> None:
        data = json.dumps(answer.body).encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", _new_id("req"))
        self.send_header("Stripe-Version", "2024-06-20")
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            return

    def _body(self) -> str:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length).decode() if length else ""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        raw = self._body()
        path = urlsplit(self.path).path
        if path.startswith("/_"):
            answer = self._control(method, path, raw)
            if method == "POST":
                self.state.save()
            self._send(answer)
            return
        if not path.startswith("/v1/"):
            self._send(Answer(404, StripeError(404, "resource_missing", f"Unrecognized request URL ({path})").body()))
            return
        if not (self.headers.get("Authorization") or "").startswith("Bearer sk_"):
            error = StripeError(401, "", "You did not provide an API key.", kind="invalid_request_error")
            self._send(Answer(401, error.body()))
            return
        params = form_decode(raw) if method == "POST" else dict(parse_qsl(urlsplit(self.path).query))
        self._api(method, path, params)

    # -- the Stripe API with idempotency and faults --------------------------------------------------------

    def _api(self, method: str, path: str, params: dict[str, Any]) -> None:
        state = self.state
        key = self.headers.get("Idempotency-Key") if method == "POST" else None
        fingerprint = hashlib.sha256(json.dumps([method, path, params], sort_keys=True).encode()).hexdigest()
        with state.lock:
            state.requests.append((method, path))
            fault = ""
            if state.faults.next and path.startswith(state.faults.path):
                fault = state.faults.next.pop(0)
            faults = copy.copy(state.faults)
            if key is not None and key in state.idempotency:
                seen, answer = state.idempotency[key]
                if seen != fingerprint:
                    error = StripeError(
                        400,
                        "",
                        f"Keys for idempotent requests can only be used with the same parameters they were first "
                        f"used with. Try using a key other than '{key}' if you meant to execute a different request.",
                        kind="idempotency_error",
                    )
                    answer = Answer(400, error.body())
                else:
                    answer = Answer(answer.status, answer.body, {**answer.headers, "Idempotent-Replayed": "true"})
                    if "Idempotency-Key" not in answer.headers:
                        answer.headers["Idempotency-Key"] = key
                events: list[dict[str, Any]] = []
            elif fault == "500":
                answer, events = Answer(500, StripeError(500, "", "An unknown error occurred").body()), []
            elif fault in ERRORS:
                status, message, param = ERRORS[fault]
                answer, events = Answer(status, StripeError(status, fault, message, param=param).body()), []
                if key is not None:
                    state.idempotency[key] = (fingerprint, answer)
            else:
                answer, events = self._route(method, path, params)
                if key is not None:
                    answer.headers["Idempotency-Key"] = key
                    state.idempotency[key] = (fingerprint, answer)
                if fault == "500_after":
                    answer = Answer(500, StripeError(500, "", "An unknown error occurred").body())
            if method == "POST":
                state.save()
        if faults.webhook_before_response:
            for event in events:
                state.deliver(event)
        elif events:
            threading.Thread(target=self._deliver_later, args=(events, faults.webhook_delay), daemon=True).start()
        if fault == "timeout":
            time.sleep(faults.timeout_seconds)
        self._send(answer)

    def _deliver_later(self, events: list[dict[str, Any]], delay: float) -> None:
        time.sleep(max(delay, 0.05))  # after the answer went out
        for event in events:
            self.state.deliver(event)

    def _route(self, method: str, path: str, params: dict[str, Any]) -> tuple[Answer, list[dict[str, Any]]]:
        state = self.state
        parts = path.strip("/").split("/")[1:]
        try:
            if parts == ["accounts"] and method == "POST":
                account, events = state.account_create(params)
                return Answer(200, account), events
            if len(parts) == 2 and parts[0] == "accounts" and method == "GET":
                return Answer(200, state.account_get(parts[1])), []
            if parts == ["account_links"] and method == "POST":
                return Answer(200, state.account_link(params)), []
            if parts == ["transfers"] and method == "POST":
                transfer, events = state.transfer_create(params)
                return Answer(200, transfer), events
            if parts == ["transfers"] and method == "GET":
                rows = [
                    t for t in state.transfers.values() if params.get("transfer_group") in (None, t["transfer_group"])
                ]
                rows.sort(key=lambda t: t["created"], reverse=True)
                return Answer(200, {"object": "list", "url": "/v1/transfers", "has_more": False, "data": rows}), []
            if len(parts) == 2 and parts[0] == "transfers" and method == "GET":
                return Answer(200, state.transfer_get(parts[1])), []
            if len(parts) == 3 and parts[0] == "transfers" and parts[2] == "reversals" and method == "POST":
                reversal, events = state.transfer_reverse(parts[1], params)
                return Answer(200, reversal), events
            if parts == ["balance"] and method == "GET":
                balance = fixture("balance")
                currencies = sorted(set(state.balance) | {"usd"})
                balance["available"] = [
                    {"amount": state.available(c), "currency": c, "source_types": {"card": state.available(c)}}
                    for c in currencies
                ]
                return Answer(200, balance), []
        except StripeError as exc:
            return Answer(exc.status, exc.body()), []
        return Answer(
            404, StripeError(404, "resource_missing", f"Unrecognized request URL ({method}: {path})").body()
        ), []

    # -- control -------------------------------------------------------------------------------------------

    def _control(self, method: str, path: str, raw: str) -> Answer:
        state = self.state
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            return Answer(400, {"error": "the body must be JSON"})
        parts = path.strip("/").split("/")
        events: list[dict[str, Any]] = []
        with state.lock:
            if path == "/_state" and method == "GET":
                return Answer(
                    200,
                    {
                        "accounts": list(state.accounts.values()),
                        "transfers": list(state.transfers.values()),
                        "payouts": list(state.payouts.values()),
                        "events": [{"id": e["id"], "type": e["type"]} for e in state.events],
                        "deliveries": list(state.deliveries),
                        "requests": [list(r) for r in state.requests],
                        "balance": dict(state.balance),
                    },
                )
            if path == "/_reset" and method == "POST":
                state.reset()
                return Answer(200, {"ok": True})
            if path == "/_faults" and method == "POST":
                nxt = data.get("next", [])
                state.faults = Faults(
                    next=[nxt] if isinstance(nxt, str) else list(nxt),
                    path=str(data.get("path", "/v1/")),
                    timeout_seconds=float(data.get("timeout_seconds", 3.0)),
                    webhook_delay=float(data.get("webhook_delay", 0.0)),
                    webhook_before_response=bool(data.get("webhook_before_response", False)),
                    duplicate_webhooks=bool(data.get("duplicate_webhooks", False)),
                )
                return Answer(200, {"ok": True})
            if path == "/_control/webhook" and method == "POST":
                state.webhook_url = str(data.get("url", state.webhook_url))
                state.webhook_secret = str(data.get("secret", state.webhook_secret))
                return Answer(200, {"ok": True})
            if path == "/_control/balance" and method == "POST":
                state.balance[str(data.get("currency", "usd")).lower()] = int(data["amount"])
                return Answer(200, {"ok": True})
            if len(parts) == 4 and parts[:2] == ["_control", "accounts"] and parts[3] == "complete":
                account = state.accounts.get(parts[2])
                if account is None:
                    return Answer(404, StripeError(404, "resource_missing", "No such account").body())
                account.update(details_submitted=True, charges_enabled=True, payouts_enabled=True)
                account["capabilities"] = {"transfers": "active"}
                account["requirements"]["currently_due"] = []
                account["requirements"]["disabled_reason"] = None
                events.append(state.event("account.updated", account, account=account["id"]))
                answer = Answer(200, account)
            elif path == "/_control/payouts" and method == "POST":
                account_id = str(data.get("account", ""))
                if account_id not in state.accounts:
                    return Answer(404, StripeError(404, "resource_missing", "No such account").body())
                payout = fixture("payout")
                status = str(data.get("status", "paid"))
                payout.update(
                    id=_new_id("po"),
                    amount=int(data["amount"]),
                    currency=str(data.get("currency", "usd")).lower(),
                    created=int(time.time()),
                    arrival_date=int(time.time()),
                    status=status,
                    automatic=True,
                    failure_code=data.get("failure_code") if status == "failed" else None,
                    failure_message=data.get("failure_message") if status == "failed" else None,
                )
                state.payouts[payout["id"]] = payout
                events.append(state.event(f"payout.{status}", payout, account=account_id))
                answer = Answer(200, payout)
            elif len(parts) == 2 and parts[0] == "_onboarding":
                return Answer(200, {"account": parts[1], "note": "POST /_control/accounts/<id>/complete"})
            else:
                return Answer(404, {"error": f"no control endpoint {method} {path}"})
        for event in events:
            state.deliver(event)
        return answer


class LocalStripeServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: StripeState) -> None:
        super().__init__(address, Handler)
        self.state = state
        host, port = self.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        state.base_url = self.url


@dataclass
class Running:
    server: LocalStripeServer
    thread: threading.Thread
    stop: Callable[[], None]

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def state(self) -> StripeState:
        return self.server.state


def start(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    webhook_url: str = "",
    webhook_secret: str = "",
    state_file: Path | None = None,
) -> Running:
    """Start the server on a thread (``port`` 0: a free port), its state kept in ``state_file`` too if given.
    ``stop()`` shuts it down."""
    state = StripeState(webhook_url=webhook_url, webhook_secret=webhook_secret, state_file=state_file)
    server = LocalStripeServer((host, port), state)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return Running(server, thread, stop)
