"""The registry of outbox topics: ``payor.events.emit`` refuses any other.

Seed 004's topics first, then what the invoice, payment, contract and milestone flows need. A topic is
part of the public contract once a subscriber may have seen it: add new ones, never rename or reuse one.
"""

from __future__ import annotations

from typing import Final

TOPICS: Final[dict[str, str]] = {
    # seed 004 "Event Topics"
    "invoice.submitted": "An invoice was submitted (its gross is encumbered)",
    "invoice.approved": "An invoice passed its last approval stage and is payable",
    "invoice.rejected": "An invoice was rejected (its encumbrance released)",
    "paymentrun.created": "A payment run was created",
    "payment.executed": "A disbursement was executed on its rail (bank reference or transaction hash)",
    "payment.failed": "A disbursement failed or was cancelled (its money is encumbered again)",
    "verification.passed": "A verification gate passed",
    "retention.release_created": "A retention-release invoice was created after a gate passed",
    # the invoice lifecycle (design §6)
    "invoice.returned": "An invoice was returned to its vendor for revision",
    "invoice.withdrawn": "The vendor withdrew an invoice under review to revise it (its encumbrance released)",
    "invoice.scheduled": "An invoice was put into a payment run",
    "invoice.paid": "An invoice was paid in full",
    "invoice.closed": "An invoice was closed",
    # payment runs
    "paymentrun.approved": "A payment run was approved",
    "paymentrun.completed": "Every disbursement of a payment run was executed",
    "paymentrun.partially_failed": "A payment run finished with failed disbursements",
    # contracts and change orders
    "contract.executed": "A contract or PO was executed (its allocations committed)",
    "contract.closed": "A contract was closed (unused commitment released)",
    "change_order.approved": "A change order was approved (its delta committed or released)",
    # the milestone flow (work requests, submissions)
    "work_request.sent": "A work request was sent to a contractor",
    "work_request.accepted": "A contractor accepted a work request (the funds are committed)",
    "work_request.declined": "A contractor declined a work request",
    "work_request.withdrawn": "A work request was withdrawn",
    "work_request.expired": "A sent work request expired before the contractor answered",
    "milestone.submitted": "A contractor submitted work for a milestone",
    "milestone.approved": "A milestone submission was approved (a self-billed invoice follows)",
    "milestone.revision_requested": "A milestone submission was sent back for revision",
}
