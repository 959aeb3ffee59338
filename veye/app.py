"""What a command needs, built once and on demand: settings, store, filter."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from alerts.errors import AlertsError
from storage.errors import StorageError
from storage.store import Store
from veye.config import Settings, load_settings
from veye.errors import ConfigError
from veye.pipeline import Classifier


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
        try:
            return Store.open(self.settings.database_url())
        except StorageError as e:
            raise ConfigError(f"storage.url: {e}") from e

    @cached_property
    def filter(self) -> Classifier:
        from alerts.classify import Filter

        s = self.settings
        try:
            return Filter.load(s.rules, s.gazetteer, base_dir=s.base_dir)
        except AlertsError as e:
            raise ConfigError(f"{self.config_path or 'config'}: {e}") from e

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()
