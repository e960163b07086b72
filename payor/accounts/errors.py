from payor.core.errors import DomainError, NotAuthenticated


class TokenInvalid(NotAuthenticated):
    code = "token_invalid"
    title = "The API token is unknown, expired or revoked"


class UserExists(DomainError):
    code = "user_exists"
    status = 409
    title = "A user with this email already exists"


class UserNotFound(DomainError):
    code = "user_not_found"
    status = 404
    title = "No user with this email"
