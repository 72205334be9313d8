"""The one place the environment is read.

Every process builds a ``Settings`` once in its composition root and passes the
pieces down; nothing else in the code base touches ``os.environ``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AnyUrl, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "change_me", "changethis", "secret", "password", "placeholder",
     "todo", "xxx", "example", "default", "test", "admin", "pbx"}
)
MIN_SECRET_LENGTH = 16


def _refuse_placeholder(value: SecretStr) -> SecretStr:
    raw = value.get_secret_value()
    if raw.strip().lower() in PLACEHOLDER_SECRETS or "changethis" in raw.lower():
        raise ValueError("is a placeholder; generate a real secret (e.g. `openssl rand -hex 24`)")
    if len(raw) < MIN_SECRET_LENGTH:
        raise ValueError(f"is too short; use at least {MIN_SECRET_LENGTH} characters")
    return value


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """callercard's configuration, from ``CALLERCARD_*`` environment variables.

    Defaults point at the loopback ports ``scripts/services.sh`` uses, so a
    developer only has to provide the secrets (the script generates them).
    """

    model_config = SettingsConfigDict(env_prefix="CALLERCARD_", extra="ignore", frozen=True)

    # MongoDB (FerretDB in tests)
    mongo_url: str = "mongodb://127.0.0.1:27027/"
    mongo_database: str = "callercard"
    mongo_timeout_ms: int = Field(default=2000, ge=50, le=60000)

    # Redis: the Celery broker, and where the listener reports its AMI login state
    redis_url: str = "redis://127.0.0.1:6390/0"
    # A task a killed worker had taken is handed to another worker after this long (it should exceed the longest
    # retry countdown, 10 s, or a waiting retry may run twice; running twice is harmless, tasks are idempotent).
    broker_visibility_timeout_seconds: int = Field(default=60, ge=2, le=86400)

    # Centrifugo
    centrifugo_api_url: AnyUrl = AnyUrl("http://127.0.0.1:8010/api")
    centrifugo_api_key: SecretStr
    centrifugo_token_secret: SecretStr
    centrifugo_websocket_url: str = "ws://127.0.0.1:8010/connection/websocket"
    centrifugo_token_ttl_seconds: int = Field(default=900, ge=30, le=86400)
    centrifugo_timeout_ms: int = Field(default=1000, ge=50, le=30000)

    # Asterisk Manager Interface
    ami_host: str = "127.0.0.1"
    ami_port: int = Field(default=5038, ge=1, le=65535)
    ami_username: str = "callercard"
    ami_secret: SecretStr
    inbound_contexts: Annotated[list[str], NoDecode] = ["incoming"]
    ami_action_timeout_ms: int = Field(default=5000, ge=100, le=60000)
    # Every this many seconds the listener asks CoreShowChannels and ends the calls and legs Asterisk no longer has
    # (a lost Hangup must not leave a popup open); 0 turns it off (it still runs after every login).
    ami_reconcile_seconds: float = Field(default=30.0, ge=0, le=3600)
    # Popups for agent-to-agent calls (the card shows the calling colleague).
    internal_call_popups: bool = True
    # Callbacks and click-to-dial: the agent's phone rings first, then this context dials the customer.
    originate_context: str = Field(default="pstn", min_length=1, max_length=80)

    # Credentials of the API's callers
    pbx_api_key: SecretStr
    admin_api_key: SecretStr

    # Phone numbers
    default_region: str = Field(default="RU", min_length=2, max_length=2)
    default_area_code: str | None = Field(default=None, pattern=r"^\d{1,5}$")

    # HTTP API
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8090, ge=1, le=65535)
    lookup_budget_ms: int = Field(default=300, ge=10, le=10000)
    # HTTP event feed: a call with no event for this long is ended (its popups closed, the call logged as last
    # seen); a phone that rang this long with no event stops ringing on screen sooner.
    pbx_events_call_idle_seconds: float = Field(default=4 * 3600, ge=10, le=7 * 86400)
    pbx_events_ring_idle_seconds: float = Field(default=180, ge=5, le=86400)
    # Cards the API answered, kept in its memory while it hears every change on Redis; 0 turns it off.
    lookup_local_cache_seconds: float = Field(default=10.0, ge=0, le=3600)
    lookup_local_cache_entries: int = Field(default=20000, ge=0, le=1_000_000)
    dnc_fail_closed: bool = False
    cors_origins: Annotated[list[str], NoDecode] = []
    demo_enabled: bool = False
    # The widget's green button opens this, with {account_id} filled in; empty: the card opens in the widget.
    helpdesk_account_url: str = Field(default="", max_length=500)
    log_level: str = "INFO"

    _validate_secrets = field_validator(
        "centrifugo_api_key", "centrifugo_token_secret", "ami_secret", "pbx_api_key", "admin_api_key"
    )(_refuse_placeholder)
    _split_lists = field_validator("inbound_contexts", "cors_origins", mode="before")(_split_csv)

    @field_validator("default_region")
    @classmethod
    def _upper_region(cls, value: str) -> str:
        return value.upper()

    @property
    def lookup_budget_seconds(self) -> float:
        return self.lookup_budget_ms / 1000


def load_settings() -> Settings:
    """Read and validate the environment; raises ``pydantic.ValidationError`` naming each bad variable."""
    return Settings()  # type: ignore[call-arg]  # required fields come from the environment
