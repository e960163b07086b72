from payor.core.errors import Conflict, DomainError, NotAuthenticated, NotFound, PermissionDenied


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


# -- Sign-In with Ethereum (EIP-4361) and wallets --------------------------------------------------


class SiweMessageInvalid(DomainError):
    code = "siwe_message_invalid"
    status = 422
    title = "The message is not a well-formed Sign-In with Ethereum (EIP-4361) message"


class SiweDomainMismatch(DomainError):
    code = "siwe_domain_mismatch"
    status = 422
    title = "The message was written for another site"


class SiweUriMismatch(DomainError):
    code = "siwe_uri_mismatch"
    status = 422
    title = "The message's URI is not on this site"


class SiweChainUnsupported(DomainError):
    code = "siwe_chain_unsupported"
    status = 422
    title = "The message's chain is not one Payor accepts"


class SiweMessageExpired(DomainError):
    code = "siwe_message_expired"
    status = 422
    title = "The message's expiration time has passed"


class SiweMessageNotYetValid(DomainError):
    code = "siwe_message_not_yet_valid"
    status = 422
    title = "The message is not valid yet (its issued-at or not-before time is in the future)"


class SiweNonceInvalid(DomainError):
    code = "siwe_nonce_invalid"
    status = 422
    title = "The message's nonce was not issued for this request"


class SiweNonceExpired(DomainError):
    code = "siwe_nonce_expired"
    status = 422
    title = "The message's nonce has expired: ask for a new one"


class SiweNonceUsed(DomainError):
    code = "siwe_nonce_used"
    status = 422
    title = "The message's nonce was already used: ask for a new one"


class SiweSignatureInvalid(DomainError):
    code = "siwe_signature_invalid"
    status = 422
    title = "The signature is malformed or was not made by the message's address"


class WalletAddressInvalid(DomainError):
    code = "wallet_address_invalid"
    status = 422
    title = "Not an Ethereum address (0x followed by 40 hexadecimal digits, EIP-55 checksum if mixed case)"


class WalletAlreadyLinked(Conflict):
    code = "wallet_already_linked"
    title = "This wallet address is linked to another account"


class WalletNotLinked(NotFound):
    code = "wallet_not_linked"
    title = "The wallet address is not linked to the account"


class AccountInactive(PermissionDenied):
    code = "account_inactive"
    title = "This account is inactive"
