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
