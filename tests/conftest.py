"""Shared fixtures: a local HTTP server, temporary configs, and the CLI as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests import postgres
from tests.localserver import LocalServer, serving

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Caches (the language model's, see crawler.language) in the session's temporary
    directory, for this process and the CLI children it starts: never the user's own."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with serving() as s:
        yield s


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres.PostgresServer]:
    """A private PostgreSQL server for this test process, with a migrated template database.
    Skipped only where no server can be started, and never when ``VEYE_REQUIRE_POSTGRES`` is
    set (CI sets it)."""
    bin_dir = postgres.find_bin_dir()
    if bin_dir is None:
        reason = "no PostgreSQL server here (install Debian's postgresql package)"
        if postgres.required():
            pytest.fail(f"VEYE_REQUIRE_POSTGRES is set but {reason}")
        pytest.skip(reason)
    server = postgres.PostgresServer(bin_dir)
    try:
        server.start()
        server.execute(f"CREATE DATABASE {postgres.TEMPLATE}")
        from storage.store import Store

        Store.open(server.url(postgres.TEMPLATE)).close()
    except BaseException:
        server.stop()
        raise
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database on each backend veye supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/v.db"
    server: postgres.PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_database()


def feed_bytes(name: str) -> bytes:
    return (DATA / "feeds" / name).read_bytes()


def write_config(tmp_path: Path, sources: list[dict[str, object]], **extra: object) -> Path:
    """A config in ``tmp_path`` with its database beside it."""
    config = {
        "storage": {"url": "sqlite:///veye.db"},
        "crawl": {"timeout": "3s", "concurrency": 8, "min_delay": 0, "full_text": False},
        "sources": sources,
        **extra,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), "utf-8")
    return path


def run_veye(
    *args: str,
    config: Path | None = None,
    input: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run the real ``veye`` command in a child process, as a user would."""
    cmd = [sys.executable, "-m", "veye"]
    if config is not None:
        cmd += ["--config", str(config)]
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    full_env.pop("VEYE_CONFIG", None)
    return subprocess.run(
        [*cmd, *args],
        capture_output=True,
        text=True,
        input=input,
        env=full_env,
        timeout=timeout,
        check=False,
    )
