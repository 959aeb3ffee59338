from __future__ import annotations

from pathlib import Path

import pytest

from veye.config import load_settings, parse_settings
from veye.errors import ConfigError

GOOD = """\
storage:
  url: sqlite:///data/veye.db
sources:
  - name: alterpresse
    url: https://www.alterpresse.org/spip.php?page=backend
    interval: 15m
    language: fr
  - name: haitiantimes
    url: https://haitiantimes.com/feed/
    kind: feed
    interval: 1h30m
"""


def test_a_good_config_loads_into_frozen_settings(tmp_path: Path) -> None:
    settings = parse_settings(GOOD, base_dir=tmp_path)
    assert [s.name for s in settings.sources] == ["alterpresse", "haitiantimes"]
    assert settings.sources[0].interval == 900
    assert settings.sources[1].interval == 5400
    assert settings.database_url() == f"sqlite:///{tmp_path.resolve()}/data/veye.db"
    with pytest.raises(Exception, match="frozen"):
        settings.sources[0].name = "x"  # type: ignore[misc]


def test_the_shipped_config_is_valid_and_lists_the_real_outlets() -> None:
    repo = Path(__file__).resolve().parents[1]
    settings = load_settings(repo / "config.yaml", env={})
    names = {s.name for s in settings.sources}
    assert {
        "alterpresse",
        "haitilibre",
        "lenouvelliste",
        "haitiantimes",
        "ayibopost",
        "beglobal",
    } <= names
    assert all(s.url.startswith("https://") for s in settings.sources)
    # Channels ship disabled, so no secret is needed to start.
    assert all(not c.enabled for c in settings.alerts.channels)


def test_a_bad_value_names_its_path_and_line() -> None:
    text = GOOD.replace("interval: 1h30m", "interval: often")
    with pytest.raises(ConfigError) as err:
        parse_settings(text, origin="config.yaml")
    message = str(err.value)
    assert "sources[1].interval" in message
    assert "line 11" in message
    assert "not a duration" in message


def test_an_unknown_key_is_named_with_its_line() -> None:
    text = GOOD.replace("    language: fr", "    langauge: fr")
    with pytest.raises(ConfigError) as err:
        parse_settings(text, origin="config.yaml")
    assert "sources[0].langauge" in str(err.value)
    assert "line 7" in str(err.value)
    assert "unknown key" in str(err.value)


def test_several_problems_are_all_reported() -> None:
    text = GOOD.replace("interval: 15m", "interval: -3").replace("kind: feed", "kind: blog")
    with pytest.raises(ConfigError) as err:
        parse_settings(text, origin="config.yaml")
    assert "2 problems" in str(err.value)
    assert "sources[0].interval" in str(err.value)
    assert "sources[1].kind" in str(err.value)


def test_invalid_yaml_is_reported_with_its_line() -> None:
    with pytest.raises(ConfigError, match=r"config.yaml, line 3: not valid YAML"):
        parse_settings("storage:\n  url: x\n  - bad\n", origin="config.yaml")


def test_env_references_are_filled_and_a_missing_one_is_named() -> None:
    text = (
        GOOD
        + """\
alerts:
  channels:
    - name: ops
      type: webhook
      url: https://hooks.example.org/x
      secret: ${VEYE_TEST_SECRET}
"""
    )
    settings = parse_settings(text, env={"VEYE_TEST_SECRET": "s3cret"})
    assert settings.alerts.channels[0].secret == "s3cret"  # type: ignore[union-attr]
    with pytest.raises(ConfigError) as err:
        parse_settings(text, origin="config.yaml", env={})
    assert "VEYE_TEST_SECRET" in str(err.value)
    assert "alerts.channels[0].secret" in str(err.value)
    assert "line 17" in str(err.value)


def test_a_disabled_entry_needs_no_secret() -> None:
    text = (
        GOOD
        + """\
alerts:
  channels:
    - name: ops
      type: webhook
      enabled: false
      url: https://hooks.example.org/x
      secret: ${VEYE_TEST_SECRET}
"""
    )
    settings = parse_settings(text, env={})
    assert settings.alerts.channels[0].enabled is False


def test_a_route_to_an_unknown_channel_is_refused() -> None:
    text = (
        GOOD
        + """\
alerts:
  routes:
    - categories: [prison_break]
      channels: [nowhere]
"""
    )
    with pytest.raises(ConfigError, match="channel 'nowhere', which is not defined"):
        parse_settings(text)


def test_duplicate_source_names_are_refused() -> None:
    text = GOOD.replace("name: haitiantimes", "name: alterpresse")
    with pytest.raises(ConfigError, match="source names must be unique: alterpresse"):
        parse_settings(text)


def test_a_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="veye init"):
        load_settings(tmp_path / "nope.yaml")


def test_parse_processes_reach_the_crawl_options(tmp_path: Path) -> None:
    settings = parse_settings("crawl: {parse_processes: 0}", base_dir=tmp_path)
    assert settings.crawl.collect_options().parse_workers == 0
    default = parse_settings("{}", base_dir=tmp_path).crawl.collect_options().parse_workers
    assert 1 <= default <= 4
