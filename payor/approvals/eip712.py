"""EIP-712 typed data for approval decisions signed in a wallet (DAO multisig stages).

A DAO signer's decision is only recorded with a signature of exactly what they decide: the project, the item
(type, id, review round), their stage, the decision, the amount (as text for the wallet to show, and in minor
units for machines) and the matrix version that applied. The page (or any client) asks the server for the
typed data (:func:`approval_typed_data`), has the wallet sign it with ``eth_signTypedData_v4``, and posts the
signature back; :func:`approval_signature_verify` recovers the address and requires it to be one of the
approver's linked wallets (``accounts.Wallet``, linked by Sign-In with Ethereum). Anything else that changes
in the item (another amount, another round) makes the signature worthless.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Final

from payor.accounts.models import User
from payor.accounts.wallets import wallet_find
from payor.approvals.errors import ApprovalSignatureInvalid, ApprovalSignerNotLinked
from payor.core.money import Money

DOMAIN_NAME: Final = "Payor"
DOMAIN_VERSION: Final = "1"
PRIMARY_TYPE: Final = "ApprovalDecision"
SIGNATURE_RE: Final = re.compile(r"0x[0-9a-fA-F]{130}")

#: The domain Payor signs under ({name, version, chainId}); shared by every typed-data message it asks for.
DOMAIN_FIELDS: Final[list[dict[str, str]]] = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
]

TYPES: Final[dict[str, list[dict[str, str]]]] = {
    "EIP712Domain": DOMAIN_FIELDS,
    PRIMARY_TYPE: [
        {"name": "project", "type": "string"},
        {"name": "targetType", "type": "string"},
        {"name": "targetId", "type": "string"},
        {"name": "round", "type": "uint32"},
        {"name": "role", "type": "string"},
        {"name": "decision", "type": "string"},
        {"name": "amount", "type": "string"},
        {"name": "currency", "type": "string"},
        {"name": "amountMinor", "type": "uint256"},
        {"name": "matrixVersion", "type": "uint32"},
    ],
}


def approval_typed_data(
    *,
    chain_id: int,
    project_id: uuid.UUID,
    target_type: str,
    target_id: uuid.UUID,
    round: int,
    role: str,
    decision: str,
    amount: Money,
    matrix_version: int,
) -> dict[str, Any]:
    """The full EIP-712 message (types, primaryType, domain, message) a signer signs for this decision."""
    return {
        "types": TYPES,
        "primaryType": PRIMARY_TYPE,
        "domain": {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": chain_id},
        "message": {
            "project": str(project_id),
            "targetType": target_type,
            "targetId": str(target_id),
            "round": round,
            "role": role,
            "decision": decision,
            "amount": amount.amount_str(),
            "currency": amount.code,
            "amountMinor": amount.minor,
            "matrixVersion": matrix_version,
        },
    }


def approval_signature_verify(*, typed_data: dict[str, Any], signature: object, approver: User) -> str:
    """The approver's linked address that signed ``typed_data``, or a refusal.

    ``approval_signature_invalid`` (422): not 65 bytes of hex, or not a valid secp256k1 signature of this
    message. ``approval_signer_not_linked`` (403): a valid signature by an address that is not one of the
    approver's linked wallets (someone else's wallet, or a wallet never linked).
    """
    from eth_account import Account
    from eth_account.messages import encode_typed_data
    from eth_keys.exceptions import BadSignature
    from eth_utils.exceptions import ValidationError as EthValidationError

    if not isinstance(signature, str) or not SIGNATURE_RE.fullmatch(signature):
        raise ApprovalSignatureInvalid("The signature must be 0x followed by 130 hexadecimal digits (65 bytes)")
    try:
        address = str(Account.recover_message(encode_typed_data(full_message=typed_data), signature=signature))
    except (BadSignature, EthValidationError, ValueError) as exc:
        raise ApprovalSignatureInvalid() from exc
    wallet = wallet_find(address)
    if wallet is None or wallet.user_id != approver.pk:
        raise ApprovalSignerNotLinked(f"{address} signed this decision, but it is not a wallet linked to your account")
    return wallet.address
