"""Contract and change-order refusals, each with a stable code (docs/errors.md)."""

from __future__ import annotations

from payor.core.errors import Conflict, DomainError, NotFound


class ContractNotFound(NotFound):
    code = "contract_not_found"
    title = "No such contract"


class ChangeOrderNotFound(NotFound):
    code = "change_order_not_found"
    title = "No such change order"


class ContractInvalid(DomainError):
    code = "contract_invalid"
    status = 422
    title = "The contract is not valid"


class ContractAllocationMismatch(DomainError):
    code = "contract_allocation_mismatch"
    status = 422
    title = "The budget allocations must add up to the not-to-exceed amount"


class ContractCurrencyMismatch(DomainError):
    code = "contract_currency_mismatch"
    status = 422
    title = "Contracts are paid from a bucket in the project currency (the budget's currency)"


class ContractVendorInvalid(DomainError):
    code = "contract_vendor_invalid"
    status = 422
    title = "The vendor is not one of the project organization's vendors"


class ContractNumberTaken(Conflict):
    code = "contract_number_taken"
    title = "The project already has a contract with this number"


class ContractStateInvalid(Conflict):
    code = "contract_state_invalid"
    title = "The contract's status does not allow this"


class ContractHasOpenInvoices(Conflict):
    code = "contract_has_open_invoices"
    title = "Invoices against this contract are still encumbered or being paid: settle them before closing"


class ChangeOrderInvalid(DomainError):
    code = "change_order_invalid"
    status = 422
    title = "The change order is not valid"


class ChangeOrderStateInvalid(Conflict):
    code = "change_order_state_invalid"
    title = "The change order was already decided"


class ChangeOrderReleaseExceeded(Conflict):
    code = "change_order_release_exceeded"
    title = "A decrease cannot release more than is still committed and unallocated to invoices on the line"
