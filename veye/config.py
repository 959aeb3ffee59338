"""``config.yaml`` loaded and validated into frozen settings.

Every problem is reported with the key path and the line it was written on; nothing here
raises anything but :class:`~veye.errors.ConfigError` to its callers."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from crawler.layouts import check_layout_options
from crawler.records import Source
from crawler.spiders.options import (
    check_common_options,
    check_listing_options,
    check_sitemap_options,
)
from storage.places import DEFAULT_GENERIC_PLACES
from veye.errors import ConfigError
from veye.units import parse_duration, parse_size
from veye.yaml_source import LoadedYaml, expand_env, format_path, load_yaml

if TYPE_CHECKING:
    # Imported where used: loading settings must stay quick for every command, and these
    # bring in the crawler's and clustering's dependencies (aiohttp, trafilatura, numpy).
    from crawler.collect import CollectOptions
    from crawler.fetch import FetchSettings
    from storage.clusters import ClusterParams

__all__ = ["DEFAULT_CONFIG", "Settings", "find_config", "load_settings", "parse_settings"]

DEFAULT_CONFIG = "config.yaml"

Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StorageSettings(_Model):
    #: SQLAlchemy URL. A relative SQLite path is taken from the config file's folder.
    url: str = "sqlite:///veye.db"


class CrawlSettings(_Model):
    user_agent: str = "veye/0.1 (+https://github.com/veye-news/veye)"
    #: Total deadline per request, redirects and body included.
    timeout: Duration = 20.0
    #: Largest body accepted, after decompression.
    max_bytes: Size = 15_000_000
    per_host_concurrency: int = Field(2, ge=1, le=16)
    #: Sources polled at once in one crawl.
    concurrency: int = Field(16, ge=1, le=256)
    obey_robots: bool = True
    #: Fetch the article page when a feed carries only a summary.
    full_text: bool = True
    #: Least time between the starts of two requests to the same host (0 for none).
    min_delay: float = 1.0
    #: Most article pages fetched per source per poll for full text.
    full_text_limit: int = Field(30, ge=0, le=500)
    #: Time a spider or sitemap crawl may take before its process is stopped.
    spider_time_limit: Duration = 300.0
    #: How long a worker's hold on its sources lasts unless renewed (it renews every third of
    #: this). With several workers on one PostgreSQL database, a dead worker's sources are
    #: taken over by the others within about this long.
    source_lease: Duration = 60.0
    #: Processes that parse feeds and extract article pages beside the one that stores, for a
    #: crawl of 8 sources or more (`veye crawl`); unset is one per core, at most 4; 0 keeps
    #: everything in one process.
    parse_processes: int | None = Field(None, ge=0, le=32)

    @field_validator("min_delay", mode="before")
    @classmethod
    def _min_delay(cls, v: Any) -> float:
        # Zero turns the delay off (tests, a mirror of one's own); parse_duration refuses it.
        if not isinstance(v, bool) and str(v).strip() in ("0", "0s", "0.0"):
            return 0.0
        return parse_duration(v)

    def fetch_settings(self) -> FetchSettings:
        from crawler.fetch import FetchSettings

        return FetchSettings(
            user_agent=self.user_agent,
            timeout=self.timeout,
            max_bytes=self.max_bytes,
            per_host_concurrency=self.per_host_concurrency,
            min_delay=self.min_delay,
            obey_robots=self.obey_robots,
        )

    def collect_options(self) -> CollectOptions:
        from crawler.collect import CollectOptions

        options = CollectOptions(
            full_text=self.full_text,
            full_text_limit=self.full_text_limit,
            spider_time_limit=self.spider_time_limit,
        )
        if self.parse_processes is not None:
            options = replace(options, parse_workers=self.parse_processes)
        return options


class SourceSettings(_Model):
    name: str
    url: str
    kind: Literal["feed", "spider", "sitemap"] = "feed"
    interval: Duration = 900.0
    language: str | None = None
    enabled: bool = True
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("use lowercase letters, digits, '-', '_' or '.', e.g. alterpresse")
        return v

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError("must be an http:// or https:// URL")
        return v

    @model_validator(mode="after")
    def _options(self) -> SourceSettings:
        check = {
            "feed": check_common_options,
            "spider": check_listing_options,
            "sitemap": check_sitemap_options,
        }[self.kind]
        problem = check(self.options) or check_layout_options(self.options)
        if problem:
            raise ValueError(problem)
        return self

    def to_source(self) -> Source:
        return Source(
            name=self.name,
            kind=self.kind,
            url=self.url,
            interval=self.interval,
            language=self.language,
            options=dict(self.options),
        )


class EmailChannel(_Model):
    name: str
    type: Literal["email"]
    enabled: bool = True
    host: str
    port: int = Field(587, ge=1, le=65535)
    #: ``starttls`` upgrades a plain connection; ``tls`` is implicit TLS (port 465); ``none``
    #: sends in clear and is only allowed to a loopback server.
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: str | None = None
    password_file: str | None = None
    from_: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    timeout: Duration = 30.0
    #: Check the server's certificate; ``ca_file`` trusts a private CA instead of turning
    #: checks off.
    verify_tls: bool = True
    ca_file: str | None = None
    #: Messages per hour sent one by one; the rest wait for the hour's end, as one digest.
    max_per_hour: int | None = Field(None, ge=1)

    @field_validator("from_", "to")
    @classmethod
    def _addresses(cls, v: str | list[str]) -> str | list[str]:
        for address in [v] if isinstance(v, str) else v:
            if "@" not in address or any(c.isspace() or ord(c) < 32 for c in address.strip()):
                raise ValueError(f"{address!r} is not an email address")
        return v

    @model_validator(mode="after")
    def _safe(self) -> EmailChannel:
        if self.password and self.password_file:
            raise ValueError("give password or password_file, not both")
        if self.username and not (self.password or self.password_file):
            raise ValueError(
                "username is set: give password (e.g. ${VEYE_SMTP_PASSWORD}) or password_file"
            )
        if self.security == "none" and not _is_loopback(self.host):
            raise ValueError(
                f"security: none sends in clear and is only allowed to a loopback server, not "
                f"{self.host}; use starttls (port 587) or tls (port 465)"
            )
        return self


class WebhookChannel(_Model):
    name: str
    type: Literal["webhook"]
    enabled: bool = True
    url: str
    secret: str | None = None
    secret_file: str | None = None
    #: ``veye`` (the documented JSON schema) or ``slack`` (a Slack-compatible text payload).
    payload: Literal["veye", "slack"] = "veye"
    timeout: Duration = 10.0
    verify_tls: bool = True
    ca_file: str | None = None
    max_per_hour: int | None = Field(None, ge=1)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError("must be an http:// or https:// URL")
        return v

    @model_validator(mode="after")
    def _one_secret(self) -> WebhookChannel:
        if self.secret and self.secret_file:
            raise ValueError("give secret or secret_file, not both")
        return self


Channel = Annotated[EmailChannel | WebhookChannel, Field(discriminator="type")]


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _quiet_hours(v: str | None) -> str | None:
    from alerts.digest import QuietHours

    if v is not None:
        QuietHours.parse(v)
    return v


QuietSpan = Annotated[str | None, BeforeValidator(_quiet_hours)]


class RouteSettings(_Model):
    #: Recorded on each alert the route owes (default ``route-N``, N counted from 1).
    name: str | None = None
    #: Categories that select a story; ``*`` selects any alert.
    categories: list[str] = Field(min_length=1)
    channels: list[str] = Field(min_length=1)
    #: If given, the story must name one of these places or departments.
    places: list[str] = Field(default_factory=list)
    #: If given, one of these sources must have carried the story.
    sources: list[str] = Field(default_factory=list)
    mode: Literal["immediate", "digest"] = "immediate"
    #: What more outlets reporting an alerted story owe: ``never`` anything, one update once
    #: ``corroboration`` outlets carry it, or an update for ``every`` new outlet.
    follow_up: Literal["never", "corroboration", "every"] = "corroboration"
    corroboration: int = Field(3, ge=2)
    #: Time between digests (``mode: digest``), counted from local midnight.
    digest_interval: Duration = 3600.0
    #: Local hours in which digests wait, e.g. ``22:00-06:00``; default ``alerts.quiet_hours``.
    quiet_hours: QuietSpan = None


class RetrySettings(_Model):
    #: After this long an alert that could not be delivered is given up as failed.
    deadline: Duration = 24 * 3600.0
    #: Delay after the first failure; doubled after each one, up to ``max_delay``.
    first_delay: Duration = 30.0
    max_delay: Duration = 3600.0


class AlertSettings(_Model):
    channels: list[Channel] = Field(default_factory=list)
    routes: list[RouteSettings] = Field(default_factory=list)
    #: Time zone of quiet hours and digest windows.
    timezone: str = "America/Port-au-Prince"
    #: Default quiet hours of digest routes.
    quiet_hours: QuietSpan = None
    retry: RetrySettings = Field(default_factory=lambda: RetrySettings())
    #: A folder of templates overriding the packaged ones (subject.txt, email.txt,
    #: email.html, slack.txt); relative to the config file.
    templates: str | None = None
    #: A channel told when a source starts failing or goes quiet, and when it recovers
    #: (operator alerts from ``veye run``), e.g. ``ops``.
    operator_channel: str | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"{v!r} is not a time zone; write e.g. America/Port-au-Prince") from e
        return v

    @model_validator(mode="after")
    def _routes_name_channels(self) -> AlertSettings:
        names = [c.name for c in self.channels]
        if self.operator_channel is not None and self.operator_channel not in names:
            raise ValueError(
                f"operator_channel names channel {self.operator_channel!r}, which is not "
                f"defined (defined: {', '.join(names) or 'none'})"
            )
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"channel names must be unique: {', '.join(sorted(dupes))}")
        for route in self.routes:
            for name in route.channels:
                if name not in names:
                    raise ValueError(
                        f"a route names channel {name!r}, which is not defined "
                        f"(defined: {', '.join(names) or 'none'})"
                    )
        routes = self.route_names()
        dupes = {n for n in routes if routes.count(n) > 1}
        if dupes:
            raise ValueError(f"route names must be unique: {', '.join(sorted(dupes))}")
        return self

    def route_names(self) -> list[str]:
        """Each route's name, ``route-N`` where none is given."""
        return [r.name or f"route-{i}" for i, r in enumerate(self.routes, 1)]


class ClusterSettings(_Model):
    """How copies and reports of one event are grouped, so one story owes one alert
    (``docs/clusters.md``)."""

    #: Reports of one event (same category and main place) join within this much of the
    #: cluster's first report.
    window: Duration = 48 * 3600.0
    #: Estimated share of 4-word shingles from which a text is a copy of another.
    similarity: float = Field(0.6, ge=0.3, le=1.0)
    #: Copies join only an item published within this much of them.
    copy_window: Duration = 7 * 86400.0
    #: Places that alone never make two reports one event (replaces the default list).
    generic_places: list[str] = Field(default_factory=lambda: list(DEFAULT_GENERIC_PLACES))
    #: Also require a shared gang when both reports name one.
    require_gang: bool = False

    def params(self) -> ClusterParams:
        from storage.clusters import ClusterParams

        return ClusterParams(
            window=timedelta(seconds=self.window),
            similarity=self.similarity,
            copy_window=timedelta(seconds=self.copy_window),
            generic_places=tuple(self.generic_places),
            require_gang=self.require_gang,
        )


class Settings(_Model):
    storage: StorageSettings = Field(default_factory=lambda: StorageSettings())
    crawl: CrawlSettings = Field(default_factory=lambda: CrawlSettings())
    sources: list[SourceSettings] = Field(default_factory=list)
    #: ``default`` (the shipped rules), a path, or the rule set written inline.
    rules: dict[str, Any] | str | None = None
    #: ``default`` (the shipped Haiti gazetteer) or a path.
    gazetteer: str | None = None
    alerts: AlertSettings = Field(default_factory=lambda: AlertSettings())
    clusters: ClusterSettings = Field(default_factory=lambda: ClusterSettings())
    #: Folder of the config file: relative paths in it are taken from there.
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _unique_sources(self) -> Settings:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique: {', '.join(dupes)}")
        return self

    def active_sources(self) -> list[Source]:
        return [s.to_source() for s in self.sources if s.enabled]

    def database_url(self) -> str:
        url = self.storage.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/"):
            rest = url[len(prefix) :]
            if rest and rest != ":memory:":
                return prefix + str((self.base_dir / rest).resolve())
        return url


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config file to use: ``--config``, then ``$VEYE_CONFIG``, then ``./config.yaml``."""
    chosen = explicit or os.environ.get("VEYE_CONFIG") or DEFAULT_CONFIG
    return Path(chosen)


def load_settings(
    path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None
) -> Settings:
    """Read, fill ``${ENV}`` references in, and validate a config file."""
    config_path = find_config(path)
    try:
        text = config_path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(
            f"{config_path}: no such config file; pass --config PATH, set "
            f"VEYE_CONFIG, or run `veye init` to write one"
        ) from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{config_path}: cannot read config: {e}") from e
    return parse_settings(
        text, origin=str(config_path), base_dir=config_path.resolve().parent, env=env
    )


def parse_settings(
    text: str,
    *,
    origin: str = "config",
    base_dir: Path | None = None,
    env: dict[str, str] | None = None,
) -> Settings:
    loaded = load_yaml(text, origin)
    data = loaded.data if loaded.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{origin}: the config must be a mapping of keys "
            "(storage, crawl, sources, rules, gazetteer, alerts, clusters)"
        )
    data = expand_env(loaded, env)
    try:
        return Settings.model_validate({**data, "base_dir": base_dir or Path(".")})
    except ValidationError as e:
        raise ConfigError(_describe(e, loaded)) from e


def _describe(error: ValidationError, loaded: LoadedYaml) -> str:
    lines = []
    for err in error.errors():
        path = _yaml_path(err["loc"], loaded)
        where = loaded.where(path)
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key (check its spelling and indentation)"
        elif err["type"] == "missing":
            message = "required key is missing"
        lines.append(f"{where}: {format_path(path) or 'config'}: {message}")
    return (
        lines[0]
        if len(lines) == 1
        else f"{len(lines)} problems in the config:\n  " + "\n  ".join(lines)
    )


#: Parts of pydantic's error locations that name a union member, not a key.
_UNION_TAGS = frozenset({"email", "webhook", "function-after"})


def _yaml_path(loc: tuple[Any, ...], loaded: LoadedYaml) -> tuple[str | int, ...]:
    """Pydantic's location without the parts YAML never had (union tags like ``email``)."""
    path: tuple[str | int, ...] = ()
    for part in loc:
        candidate = (*path, part if isinstance(part, int) else str(part))
        if candidate in loaded.lines or isinstance(part, int):
            path = candidate
        elif part == "from_":
            path = (*path, "from")
        elif part not in _UNION_TAGS and not any(
            k[: len(candidate)] == candidate for k in loaded.lines
        ):
            # Not written in the file, but a key the user must add: name it.
            path = candidate
    return path
