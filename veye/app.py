"""What a command needs, built once and on demand: settings, store, filter."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from alerts.errors import AlertsError
from storage.errors import StorageError
from veye import __version__, config
from veye.config import Settings, load_settings
from veye.errors import ConfigError

if TYPE_CHECKING:
    from alerts.channels.base import Channel
    from alerts.classify import Filter
    from alerts.dispatch import Dispatcher
    from alerts.routing import Planner
    from storage.store import Store

# The parts are imported where they are built: every command starts with this module, and
# most need one or two of them (``veye search`` needs the store, not the filter or SMTP).


@dataclass
class App:
    """Lazily loaded parts of veye for one command."""

    config_path: Path | None = None
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings

    @cached_property
    def store(self) -> Store:
        from storage.store import Store

        try:
            return Store.open(self.settings.database_url())
        except StorageError as e:
            raise ConfigError(f"storage.url: {e}") from e

    @cached_property
    def filter(self) -> Filter:
        from alerts.classify import Filter

        s = self.settings
        try:
            return Filter.load(s.rules, s.gazetteer, base_dir=s.base_dir)
        except AlertsError as e:
            raise ConfigError(f"{self.config_path or 'config'}: {e}") from e

    def replace_settings(self, settings: Settings) -> None:
        """Use a reloaded config from now on: what was built from the old one is rebuilt on
        next use; the store stays open (a changed ``storage.url`` needs a restart)."""
        self._settings = settings
        for name in ("filter", "planner", "dispatcher", "channels"):
            self.__dict__.pop(name, None)

    @cached_property
    def channels(self) -> dict[str, Channel]:
        """The enabled alert channels, by name."""
        return _build_channels(self.settings)

    @cached_property
    def planner(self) -> Planner:
        """Decides which alerts cluster changes owe (pass it to ``crawl_once``)."""
        return _build_planner(self.settings)

    @cached_property
    def dispatcher(self) -> Dispatcher:
        """Sends what the outbox owes: call ``run_once()`` every few seconds, and
        ``recover()`` once at start-up."""
        from alerts.dispatch import Dispatcher, RetryPolicy

        retry = self.settings.alerts.retry
        policy = RetryPolicy(first_delay=retry.first_delay, max_delay=retry.max_delay)
        return Dispatcher(self.store.engine, self.channels, policy=policy)

    def close(self) -> None:
        if "dispatcher" in self.__dict__:
            self.dispatcher.close()
        elif "channels" in self.__dict__:
            for channel in self.channels.values():
                channel.close()
        if "store" in self.__dict__:
            self.store.close()


def _build_planner(settings: Settings) -> Planner:
    from alerts.digest import QuietHours
    from alerts.routing import ChannelPolicy, Planner, Route

    a = settings.alerts
    enabled = [c for c in a.channels if c.enabled]
    default_quiet = QuietHours.parse(a.quiet_hours) if a.quiet_hours else None
    routes = [
        Route(
            name=name,
            categories=frozenset(r.categories),
            channels=tuple(r.channels),
            places=frozenset(r.places),
            sources=frozenset(r.sources),
            mode=r.mode,
            follow_up=r.follow_up,
            corroboration=r.corroboration,
            digest_interval=r.digest_interval,
            quiet_hours=QuietHours.parse(r.quiet_hours) if r.quiet_hours else default_quiet,
        )
        for name, r in zip(a.route_names(), a.routes, strict=True)
    ]
    return Planner(
        routes,
        [ChannelPolicy(c.name, c.max_per_hour) for c in enabled],
        timezone=a.timezone,
        retry_deadline=a.retry.deadline,
    )


def _build_channels(settings: Settings) -> dict[str, Channel]:
    """Enabled channels, secrets read from their files; problems as :class:`ConfigError`
    naming the key."""
    # Imported here: commands that send nothing do not pay for SMTP, HTTP and templates.
    from alerts.channels.email import EmailChannel, EmailSettings
    from alerts.channels.render import Templates
    from alerts.channels.webhook import WebhookChannel, WebhookSettings

    a = settings.alerts
    folder = None
    if a.templates:
        folder = Path(a.templates)
        folder = folder if folder.is_absolute() else settings.base_dir / folder
    try:
        templates = Templates(folder)
    except AlertsError as e:
        raise ConfigError(f"alerts.templates: {e}") from e
    built: dict[str, Channel] = {}
    for i, c in enumerate(a.channels):
        if not c.enabled:
            continue
        where = f"alerts.channels[{i}]"
        try:
            if isinstance(c, config.EmailChannel):
                built[c.name] = EmailChannel(
                    EmailSettings(
                        name=c.name,
                        host=c.host,
                        port=c.port,
                        sender=c.from_,
                        to=tuple(c.to),
                        security=c.security,
                        username=c.username,
                        password=c.password
                        or _secret_file(settings, c.password_file, f"{where}.password_file"),
                        timeout=c.timeout,
                        verify_tls=c.verify_tls,
                        ca_file=_path(settings, c.ca_file),
                    ),
                    templates,
                )
            else:
                built[c.name] = WebhookChannel(
                    WebhookSettings(
                        name=c.name,
                        url=c.url,
                        secret=c.secret
                        or _secret_file(settings, c.secret_file, f"{where}.secret_file"),
                        payload=c.payload,
                        timeout=c.timeout,
                        verify_tls=c.verify_tls,
                        ca_file=_path(settings, c.ca_file),
                        user_agent=f"veye/{__version__}",
                    ),
                    templates,
                )
        except AlertsError as e:
            raise ConfigError(f"{where}: {e}") from e
    return built


def _path(settings: Settings, value: str | None) -> str | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else settings.base_dir / path)


def _secret_file(settings: Settings, value: str | None, key: str) -> str | None:
    """The first line of a secret file (files written by ``echo`` end with a newline)."""
    path = _path(settings, value)
    if path is None:
        return None
    try:
        text = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{key}: cannot read {path}: {e}") from e
    secret = text.splitlines()[0].strip() if text.strip() else ""
    if not secret:
        raise ConfigError(f"{key}: {path} is empty")
    return secret
