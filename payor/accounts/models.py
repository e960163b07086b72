"""Users, organizations and personal API tokens."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower

from payor.core.models import BaseModel


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("users need an email address")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(BaseModel, AbstractBaseUser, PermissionsMixin):
    """A person signing in with email + password (MFA optional) or an API token."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May sign in to the Django admin.")

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ("email",)
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        return self.full_name or self.email


class Organization(BaseModel):
    """A company or a DAO that funds projects and pays contractors."""

    class Kind(models.TextChoices):
        COMPANY = "company", "Company"
        DAO = "dao", "DAO"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.COMPANY)
    legal_name = models.CharField(max_length=200, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    # The buyer's party on self-billed receipts (EN 16931 BG-7): postal address and tax identifiers.
    address_line1 = models.CharField(max_length=200, blank=True, db_default="")
    address_line2 = models.CharField(max_length=200, blank=True, db_default="")
    city = models.CharField(max_length=100, blank=True, db_default="")
    region = models.CharField(max_length=100, blank=True, db_default="", help_text="State, province or county")
    postal_code = models.CharField(max_length=20, blank=True, db_default="")
    vat_id = models.CharField(
        max_length=32, blank=True, db_default="", help_text="VAT registration (EU VAT id), normalized"
    )
    tax_id = models.CharField(
        max_length=32, blank=True, db_default="", help_text="Other tax / legal registration id (e.g. an EIN)"
    )
    members = models.ManyToManyField(User, through="Membership", related_name="organizations")

    class Meta:
        ordering = ("name",)
        constraints = [
            models.CheckConstraint(condition=models.Q(kind__in=["company", "dao"]), name="accounts_org_kind_valid"),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(BaseModel):
    """A user belongs to an organization; project roles come on top (rbac)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="accounts_membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organization}"


class ApiToken(BaseModel):
    """A personal API token. Only a SHA-256 of the secret is stored.

    The token shown once to the user is ``payor_<prefix>_<secret>``; the prefix
    (public, indexed) finds the row, the digest of the whole token is compared
    in constant time.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"


#: An Ethereum address as stored: ``0x`` and 40 hex digits (EIP-55 mixed case, enforced by the services).
ETH_ADDRESS_SQL_RE = r"^0x[0-9a-fA-F]{40}$"


class Wallet(BaseModel):
    """An Ethereum address a user proved they control by signing a Sign-In with Ethereum (EIP-4361) message.

    The address is stored EIP-55 checksummed and is unique across all users, whatever its case. DAO multisig
    signers are identified by their linked addresses (``payor.accounts.wallets.multisig_signer_addresses``).
    Unlinking deletes the row; the audit log keeps the history.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="wallets")
    address = models.CharField(max_length=42)
    chain_id = models.PositiveBigIntegerField(help_text="EIP-155 chain id of the message that linked the wallet")
    label = models.CharField(max_length=100, blank=True)
    linked_at = models.DateTimeField()
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("linked_at", "id")
        constraints = [
            models.UniqueConstraint(Lower("address"), name="accounts_wallet_address_ci_unique"),
            models.CheckConstraint(
                condition=models.Q(address__regex=ETH_ADDRESS_SQL_RE), name="accounts_wallet_address_format"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.address} ({self.user})"


class WalletNonce(BaseModel):
    """A single-use, expiring nonce for one Sign-In with Ethereum message.

    Issued for one purpose (linking a wallet to ``user``, or signing in), one address and one chain. Consumed
    (``used_at``) under a row lock in the transaction that verifies the message, so it works at most once.
    """

    class Purpose(models.TextChoices):
        LINK = "link", "Link a wallet"
        SIGN_IN = "sign_in", "Sign in"

    nonce = models.CharField(max_length=64, unique=True)
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    user = models.ForeignKey(User, on_delete=models.CASCADE, null=True, blank=True, related_name="wallet_nonces")
    address = models.CharField(max_length=42)
    chain_id = models.PositiveBigIntegerField()
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("issued_at", "id")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(purpose="link", user__isnull=False) | models.Q(purpose="sign_in", user__isnull=True),
                name="accounts_wallet_nonce_user_iff_link",
            ),
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("issued_at")), name="accounts_wallet_nonce_expires_after"
            ),
            models.CheckConstraint(
                condition=models.Q(nonce__regex=r"^[0-9A-Za-z]{24,64}$"), name="accounts_wallet_nonce_format"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} nonce for {self.address}"
