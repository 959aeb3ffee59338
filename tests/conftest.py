"""Shared fixtures: a local HTTP server, temporary configs, and the CLI as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.localserver import LocalServer, serving

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with serving() as s:
        yield s


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
