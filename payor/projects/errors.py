from payor.core.errors import DomainError


class ProjectNameTaken(DomainError):
    code = "project_name_taken"
    status = 409
    title = "The organization already has a project with this name"


class ProjectDatesInvalid(DomainError):
    code = "project_dates_invalid"
    status = 422
    title = "The project ends before it starts"


class OrganizationNotFound(DomainError):
    code = "organization_not_found"
    status = 404
    title = "No such organization"


class FundingCurrencyMismatch(DomainError):
    code = "funding_currency_mismatch"
    status = 422
    title = "The funding amount is not in the bucket's currency"


class FundingAmountInvalid(DomainError):
    code = "funding_amount_invalid"
    status = 422
    title = "A funding amount must be positive"


class FundingSourceInvalid(DomainError):
    code = "funding_source_invalid"
    status = 422
    title = "Unknown funding source"


# -- budget lines (the WBS tree) -------------------------------------------------------------------------------


class BudgetLineNotFound(DomainError):
    code = "budget_line_not_found"
    status = 404
    title = "No such budget line on this project"


class BudgetParentInvalid(DomainError):
    code = "budget_parent_invalid"
    status = 422
    title = "The parent is not a budget line of this project"


class BudgetWbsCodeInvalid(DomainError):
    code = "budget_wbs_code_invalid"
    status = 422
    title = "Invalid WBS code"


class BudgetWbsCodeTaken(DomainError):
    code = "budget_wbs_code_taken"
    status = 409
    title = "The project already has a budget line with this WBS code"


class BudgetDescriptionInvalid(DomainError):
    code = "budget_description_invalid"
    status = 422
    title = "A budget line needs a description of at most 500 characters"


class BudgetCapInvalid(DomainError):
    code = "budget_cap_invalid"
    status = 422
    title = "A budget cap is zero or more"


class BudgetCurrencyMismatch(DomainError):
    code = "budget_currency_mismatch"
    status = 422
    title = "Budget amounts are in the project currency"


class BudgetLineArchived(DomainError):
    code = "budget_line_archived"
    status = 409
    title = "The budget line is archived"


class BudgetLineHasActivity(DomainError):
    code = "budget_line_has_activity"
    status = 409
    title = "The ledger already books money on this line, so it cannot get children: only leaf lines take money"


class BudgetLineNotLeaf(DomainError):
    code = "budget_line_not_leaf"
    status = 409
    title = "Only leaf budget lines take allocations"


class BudgetChildrenExceedParent(DomainError):
    code = "budget_children_exceed_parent"
    status = 409
    title = "The children's caps would sum above their parent's cap"


class BudgetCapBelowUsed(DomainError):
    code = "budget_cap_below_used"
    status = 409
    title = "The cap would fall below what the line already uses"


class BudgetCapExceeded(DomainError):
    code = "budget_cap_exceeded"
    status = 409
    title = "This would exceed a budget line's cap: raise the cap (change order or DAO vote) or reduce the allocation"


class BudgetLineInUse(DomainError):
    code = "budget_line_in_use"
    status = 409
    title = "Money is still open on the line (committed, encumbered, retained, withheld or in flight)"


class BudgetAllocationInvalid(DomainError):
    code = "budget_allocation_invalid"
    status = 422
    title = "An allocation is a non-negative amount of money"


class BudgetCheckOutsideTransaction(DomainError):
    code = "budget_check_outside_transaction"
    status = 500
    title = "budget_allocation_check runs inside the caller's transaction (its locks must last until the commit)"


class BudgetPositionInvalid(DomainError):
    code = "budget_position_invalid"
    status = 422
    title = "A position is a whole number from 0 to 2147483647"
