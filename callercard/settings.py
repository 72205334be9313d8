"""The one place the environment is read.

Every process builds a ``Settings`` once in its composition root and passes the
pieces down; nothing else in the code base touches ``os.environ``.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyUrl, Field, SecretStr, StringConstraints, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from callercard.pbxs import DEFAULT_PBX, PBX_ID_PATTERN, AmiEndpoint
from callercard.source_settings import BUILT_IN_SOURCE, SourceSettings, SourcesMode, check_sources

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


def _json_list(value: object) -> object:
    """A JSON list from the environment; not JSON is a ``ValueError`` naming the variable, not a crash."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(f"is not JSON: {error.msg} at character {error.pos}") from None
    return value


PbxId = Annotated[str, StringConstraints(pattern=PBX_ID_PATTERN)]


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
    # The PBX this process's AMI_* settings reach, and the one a listener serves; its call ids are
    # ``<pbx>:<Linkedid>`` unless it is the default one (callercard/pbxs.py).
    pbx_id: PbxId = DEFAULT_PBX
    # The other PBXs, as JSON: {"pbx2": {"host": "10.0.0.2", "port": 5038, "username": "callercard",
    # "secret": "..."}}. The API sends each agent's actions to the PBX of the agent's device; a listener with
    # PBX_ID listed here takes its address from here.
    pbxs: dict[PbxId, AmiEndpoint] = {}
    # Active/standby listeners: the active one holds a lease in Redis this long, renewed every third of it;
    # a standby takes over when it lapses. Each listener names itself (default: host name and process id).
    listener_lease_seconds: float = Field(default=5.0, ge=1.0, le=60.0)
    listener_id: str = Field(default="", max_length=100, pattern=r"^[A-Za-z0-9_.:@-]*$")
    # Prometheus metrics of the listener and the worker on their own HTTP port (the API serves /metrics);
    # 0: none. The worker's prefork children write to WORKER_METRICS_DIR (prometheus_client's multi-process mode).
    listener_metrics_port: int = Field(default=0, ge=0, le=65535)
    # Card lookups of the listener asking the store at once (the others wait their turn); and how long their
    # reads wait for other lookups to go with them: a call's lookup has its whole greeting, and alone it cost the
    # listener ~6 ms of CPU (8 round trips), ~2.2 ms lingering 100 ms at 40 calls/s (issue 20). The PBX's own
    # lookups (the API's) never wait.
    listener_lookups_at_once: int = Field(default=16, ge=1, le=1000)
    listener_lookup_linger_ms: int = Field(default=100, ge=0, le=2000)
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)
    worker_metrics_dir: str = ""
    inbound_contexts: Annotated[list[str], NoDecode] = ["incoming"]
    ami_action_timeout_ms: int = Field(default=5000, ge=100, le=60000)
    # Every this many seconds the listener asks CoreShowChannels and ends the calls and legs Asterisk no longer has
    # (a lost Hangup must not leave a popup open); 0 turns it off (it still runs after every login).
    ami_reconcile_seconds: float = Field(default=30.0, ge=0, le=3600)
    # Popups for agent-to-agent calls (the card shows the calling colleague).
    internal_call_popups: bool = True
    # Callbacks and click-to-dial: the agent's phone rings first, then this context dials the customer.
    originate_context: str = Field(default="pstn", min_length=1, max_length=80)
    # The callback worklist: a missed call counts only if the caller waited at least this long (60: the original
    # service's "did not get an answer within a minute"); a claim on a row lapses after this long.
    callback_min_wait_seconds: float = Field(default=0, ge=0, le=3600)
    callback_claim_seconds: float = Field(default=300, ge=1, le=86400)

    # Credentials of the API's callers
    pbx_api_key: SecretStr
    admin_api_key: SecretStr

    # Phone numbers
    default_region: str = Field(default="RU", min_length=2, max_length=2)
    default_area_code: str | None = Field(default=None, pattern=r"^\d{1,5}$")

    # Webhooks: admins' endpoints get signed JSON deliveries, retried with exponential backoff (base, 2 x base, ...
    # at most retry_max apart) until delivered or max_attempts; https only unless allow_http (tests, dev).
    webhook_allow_http: bool = False
    webhook_ca_file: str | None = Field(default=None, description="extra CA certificates (PEM) endpoints may use")
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    webhook_max_attempts: int = Field(default=10, ge=1, le=100)
    webhook_retry_base_seconds: float = Field(default=10.0, gt=0, le=3600)
    webhook_retry_max_seconds: float = Field(default=3600.0, gt=0, le=86400)

    # The supervisors' wallboard: answered within this many seconds in the queue meets the service level; "today"
    # is the day in this time zone (an IANA name, e.g. Europe/Moscow).
    service_level_seconds: float = Field(default=20, ge=0, le=3600)
    wallboard_timezone: str = Field(default="UTC", min_length=1, max_length=64)

    # HTTP API
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8090, ge=1, le=65535)
    # How long an idle client connection stays open. Longer than the idle timeout of what sits in front (a load
    # balancer's is commonly 60 s): the side that closes first must be the client, or a request sent as the
    # server closes is lost ("Server disconnected without sending a response"; uvicorn's default is 5 s).
    api_keepalive_seconds: int = Field(default=75, ge=1, le=3600)
    lookup_budget_ms: int = Field(default=300, ge=10, le=10000)
    # HTTP event feed: a call with no event for this long is ended (its popups closed, the call logged as last
    # seen); a phone that rang this long with no event stops ringing on screen sooner.
    pbx_events_call_idle_seconds: float = Field(default=4 * 3600, ge=10, le=7 * 86400)
    pbx_events_ring_idle_seconds: float = Field(default=180, ge=5, le=86400)
    # Cards the API answered, kept in its memory while it hears every change on Redis; 0 turns it off.
    lookup_local_cache_seconds: float = Field(default=10.0, ge=0, le=3600)
    lookup_local_cache_entries: int = Field(default=20000, ge=0, le=1_000_000)
    # Where cards come from, asked in this order ("first": the first source that knows the number wins; "merge":
    # every source at once, their accounts merged): a JSON list of the models above (README: Lookup sources).
    lookup_sources: Annotated[list[SourceSettings], NoDecode] = Field(
        default_factory=lambda: [BUILT_IN_SOURCE])
    lookup_sources_mode: SourcesMode = "first"
    # The card cache's life (MongoDB): how stale a card of a source without change hooks may get. Cards of
    # the built-in accounts are dropped at every change anyway; unknown numbers are kept shorter, so a
    # customer just added to the CRM is found soon.
    lookup_cache_seconds: int = Field(default=600, ge=1, le=30 * 86400)
    lookup_cache_unknown_seconds: int = Field(default=60, ge=0, le=30 * 86400)
    dnc_fail_closed: bool = False
    cors_origins: Annotated[list[str], NoDecode] = []
    # The demo serves a login-free token endpoint: it refuses to start unless the API listens on loopback only,
    # or this says otherwise (then it warns at start).
    demo_enabled: bool = False
    demo_allow_non_loopback: bool = False
    # The widget's green button opens this, with {account_id} filled in; empty: the card opens in the widget.
    helpdesk_account_url: str = Field(default="", max_length=500)
    log_level: str = "INFO"

    _validate_secrets = field_validator(
        "centrifugo_api_key", "centrifugo_token_secret", "ami_secret", "pbx_api_key", "admin_api_key"
    )(_refuse_placeholder)
    @field_validator("pbxs")
    @classmethod
    def _pbx_secrets(cls, value: dict[str, AmiEndpoint]) -> dict[str, AmiEndpoint]:
        for endpoint in value.values():
            _refuse_placeholder(endpoint.secret)
        return value

    _split_lists = field_validator("inbound_contexts", "cors_origins", mode="before")(_split_csv)
    _parse_sources = field_validator("lookup_sources", mode="before")(_json_list)
    _check_sources = field_validator("lookup_sources")(check_sources)

    @field_validator("wallboard_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Europe/Moscow") from error
        return value

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.wallboard_timezone)

    @field_validator("default_region")
    @classmethod
    def _upper_region(cls, value: str) -> str:
        return value.upper()

    @property
    def lookup_budget_seconds(self) -> float:
        return self.lookup_budget_ms / 1000

    @property
    def greeting_lookup_budget_seconds(self) -> float:
        """How long the listener waits for a card during the greeting: the store's reads, then every source it
        may have to ask (in turn, or at once when merging), each within its own timeout."""
        timeouts = [source.timeout_ms for source in self.lookup_sources]
        asking = max(timeouts) if self.lookup_sources_mode == "merge" else sum(timeouts)
        return (2 * self.mongo_timeout_ms + asking) / 1000


def demo_bind_problem(settings: Settings, *, host: str) -> str | None:
    """Why the API must not start with the demo on and listening on ``host`` (None: it may)."""
    if not settings.demo_enabled or settings.demo_allow_non_loopback or is_loopback(host):
        return None
    return (f"CALLERCARD_DEMO_ENABLED=true serves a login-free token endpoint for the demo's agents, and the API "
            f"would listen on {host}: set CALLERCARD_API_HOST=127.0.0.1, turn the demo off, or set "
            "CALLERCARD_DEMO_ALLOW_NON_LOOPBACK=true if others must reach this demo")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def load_settings() -> Settings:
    """Read and validate the environment; raises ``pydantic.ValidationError`` naming each bad variable."""
    return Settings()  # type: ignore[call-arg]  # required fields come from the environment
