"""``veye init``: a starter config that works at once, from the template the repository's own
``config.yaml`` is checked against."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import REPO, run_veye
from veye.commands.init import starter_config
from veye.config import load_settings, parse_settings


def test_repository_config_agrees_with_the_init_template() -> None:
    template = parse_settings(starter_config(), origin="config_template.yaml")
    shipped = load_settings(REPO / "config.yaml", env={})
    assert template.sources == shipped.sources, (
        "config.yaml and veye/config_template.yaml (what `veye init` writes) list different "
        "sources: change both together"
    )
    assert [(c.name, c.type) for c in template.alerts.channels] == [
        (c.name, c.type) for c in shipped.alerts.channels
    ]
    assert template.rules == shipped.rules
    assert template.gazetteer == shipped.gazetteer
    assert template.sources
    assert all(s.url.startswith("https://") for s in template.sources)
    # Nothing is sent until the user fills a channel in; no secret is needed to start.
    assert template.alerts.channels
    assert not any(c.enabled for c in template.alerts.channels)


def test_init_writes_a_config_that_runs_without_secrets(tmp_path: Path) -> None:
    target = tmp_path / "watch"
    result = run_veye("init", str(target))
    assert result.returncode == 0, result.stderr
    config = target / "config.yaml"
    assert config.read_text(encoding="utf-8") == starter_config()
    assert "--config" in result.stdout
    assert "crawl" in result.stdout
    listed = run_veye("sources", "list", "--format", "json", config=config)
    assert listed.returncode == 0, listed.stderr
    names = [json.loads(line)["name"] for line in listed.stdout.splitlines()]
    assert "alterpresse" in names
    assert len(names) == len(load_settings(config).sources)
    assert (target / "veye.db").exists()  # beside the config, not where veye ran


def test_init_never_overwrites_without_force(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("# mine\n", encoding="utf-8")
    refused = run_veye("init", str(tmp_path))
    assert refused.returncode == 2
    assert refused.stderr.startswith("veye: error: ")
    assert "--force" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert config.read_text(encoding="utf-8") == "# mine\n"
    forced = run_veye("init", "--force", str(tmp_path))
    assert forced.returncode == 0, forced.stderr
    assert config.read_text(encoding="utf-8") == starter_config()
