"""Language detection: right on the labelled dev set, from the sample it looks at."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crawler import language
from crawler.language import SAMPLE, detect

DEV_SET = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "dev.jsonl"


def test_every_french_creole_and_english_item_of_the_dev_set() -> None:
    if not DEV_SET.is_file():
        pytest.skip(f"the labelled dev set is not here ({DEV_SET}): it ships beside the repo")
    items = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines()]
    labelled = [i for i in items if i.get("language") in ("fr", "ht", "en")]
    assert len(labelled) >= 90
    wrong = [
        (i["id"], i["language"], got)
        for i in labelled
        if (got := detect(f"{i['title']}\n{i['text']}")) != i["language"]
    ]
    assert wrong == []


def test_only_the_opening_sample_decides() -> None:
    french = "Des détenus se sont évadés de la prison civile de Mirebalais ce matin. " * 8
    english = "Inmates escaped from the civil prison in the town this morning. " * 40
    assert len(french) >= SAMPLE
    assert detect(french + english) == "fr"
    assert detect(english) == "en"


def test_short_text_keeps_the_hint() -> None:
    assert detect("Mirebalais", "ht") == "ht"
    assert detect("", None) is None


SAMPLES = [
    "Des détenus se sont évadés de la prison civile de Mirebalais ce samedi matin.",
    "Bandi yo atake komisarya a nan Mirebalais, plizyè moun mouri e lòt blese.",
    "Gunmen attacked the police station in Mirebalais on Saturday, freeing inmates.",
    "Los reclusos escaparon de la cárcel durante la noche, según la policía.",
    "Os presos fugiram da prisão durante a noite, segundo a polícia local.",
    "La police nationale a renforcé sa présence à Croix-des-Bouquets après l'attaque.",
    "Lapolis te voye ranfò nan Kwadebouke apre atak gang yo te lanse.",
]


@pytest.fixture
def fresh_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No model loaded in this process, and an empty cache directory: the path of the cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(language, "_identifier", None)
    return language.cache_file()


def test_the_cached_model_answers_exactly_as_the_packaged_one(fresh_model: Path) -> None:
    packaged = language._model()
    assert fresh_model.is_file()
    language._identifier = None
    cached = language._model()
    assert cached is not packaged
    for text in SAMPLES:
        assert cached.classify(text) == packaged.classify(text)


def test_a_damaged_cache_is_rebuilt(fresh_model: Path) -> None:
    fresh_model.parent.mkdir(parents=True)
    fresh_model.write_bytes(b"not a model")
    assert detect(SAMPLES[0]) == "fr"
    language._identifier = None
    assert language._from_cache(fresh_model) is not None


def test_an_unwritable_cache_only_costs_time(
    fresh_model: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert detect(SAMPLES[2]) == "en"
    assert not language.cache_file().exists()
