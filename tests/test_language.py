"""Language detection: right on the labelled dev set, from the sample it looks at."""

from __future__ import annotations

import itertools
import json
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from py3langid import langid

from bench.corpus import build
from crawler import language
from crawler.language import SAMPLE, detect, detect_many

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


# --- detect_many: the same answers as detect, text for text ---------------------------------

HINTS = [None, "fr", "ht", "en", ""]


def _hints(n: int) -> list[str | None]:
    return list(itertools.islice(itertools.cycle(HINTS), n))


def _one_by_one(texts: list[str], hints: list[str | None]) -> list[str | None]:
    return [detect(t, h) for t, h in zip(texts, hints, strict=True)]


def _walked_as_py3langid(texts: list[str]) -> None:
    """The batch walk's Counters are py3langid's, item for item and in the same order."""
    ident = language._model()
    walker = language._walker(ident)
    assert walker is not None
    encoded = [ident._encode(t) for t in texts]
    tables = (ident.tk_nextmove, ident._rowbase, ident.tk_output)
    assert _items(walker.visits(encoded)) == _items(
        langid.visit_counts(*tables, e) for e in encoded
    )


def _items(counters: Iterable[Counter[int] | None]) -> list[list[tuple[int, int]] | None]:
    """Counters as their items in order: equal Counters may still differ in order."""
    return [None if c is None else list(c.items()) for c in counters]


def test_detect_many_answers_as_detect_on_the_dev_set() -> None:
    if not DEV_SET.is_file():
        pytest.skip(f"the labelled dev set is not here ({DEV_SET}): it ships beside the repo")
    items = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines()]
    texts = [f"{i['title']}\n{i['text']}" for i in items]
    unhinted: list[str | None] = [None] * len(texts)
    for hints in (unhinted, _hints(len(texts))):
        assert detect_many(texts, hints) == _one_by_one(texts, hints)


@pytest.mark.parametrize("shape", ["wordpress", "plain"])
def test_detect_many_answers_as_detect_on_the_bench_corpus(shape: str) -> None:
    texts = [f"{i.title}\n{i.text}" for i in build(40, 50, shape=shape).items]
    hints = _hints(len(texts))
    expected = _one_by_one(texts, hints)
    assert detect_many(texts, hints) == expected  # 2,000 at once: several walk groups
    assert [
        a
        for s in range(0, len(texts), 50)
        for a in detect_many(texts[s : s + 50], hints[s : s + 50])
    ] == expected
    _walked_as_py3langid([t[:SAMPLE] for t in texts[:300]])


def _nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def _padded(text: str) -> str:
    return f" \n\t{text}\u3000 "


#: Upper-case (py3langid lower-cases it), decomposed, padded, longer than the sample.
VARIANTS: list[Callable[[str], str]] = [str, str.upper, _nfd, _padded, lambda t: t * 9]

#: Any code point, lone surrogates included (py3langid encodes them with surrogatepass;
#: Hypothesis draws them only when asked for by category).
ANY_CHAR = st.one_of(st.characters(), st.characters(categories=["Cs"]))
TEXTS = st.one_of(
    st.text(ANY_CHAR, max_size=600),
    st.text("abcdefghij klmnopqrstuvwxyz éèàçòÉ.,'\n", max_size=600),
    st.text("😀🇭🇹👍🏽 é e\u0301 A\u030a ﬁ Ⅻ \ud800\udfff", max_size=200),
    st.builds(lambda s, f: f(s), st.sampled_from(SAMPLES), st.sampled_from(VARIANTS)),
)


@settings(max_examples=150, deadline=None, database=None)
@given(st.lists(st.tuples(TEXTS, st.sampled_from(HINTS)), max_size=12))
def test_detect_many_answers_as_detect_on_any_text(pairs: list[tuple[str, str | None]]) -> None:
    texts = [t for t, _ in pairs]
    hints = [h for _, h in pairs]
    assert detect_many(texts, hints) == _one_by_one(texts, hints)
    _walked_as_py3langid(texts)


def test_detect_many_walks_the_texts_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch path, not detect one text at a time (what the fallback below does)."""
    calls = _count_calls(monkeypatch, "detect")
    assert detect_many(SAMPLES, _hints(len(SAMPLES))) == _one_by_one(SAMPLES, _hints(len(SAMPLES)))
    assert calls == []


def test_detect_many_keeps_the_hint_of_short_texts() -> None:
    assert detect_many(["", "Mirebalais", "  " + SAMPLES[0] + "  "], ["ht", "fr", "en"]) == [
        "ht",
        "fr",
        "fr",
    ]
    assert detect_many([], []) == []


def test_detect_many_wants_a_hint_per_text() -> None:
    with pytest.raises(ValueError, match="2 texts but 1 hints"):
        detect_many(SAMPLES[:2], [None])


def test_a_row_that_does_not_join_its_text_is_walked_by_py3langid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no context before its rows, the walk cannot prove them; py3langid walks those texts."""
    ident = language._model()
    tables = (ident.tk_nextmove, ident._rowbase, ident.tk_output)
    encoded = [ident._encode(s) for s in SAMPLES]
    expected = _items(langid.visit_counts(*tables, e) for e in encoded)
    walker = language._Walker(*tables, context=0)
    walked = _count_calls(monkeypatch, "visit_counts", module=langid)
    assert _items(walker.visits(encoded)) == expected
    assert len(walked) >= 5  # most texts: their later rows start in the wrong state


def test_another_py3langid_is_called_text_by_text(monkeypatch: pytest.MonkeyPatch) -> None:
    real = language._model()

    class Other:
        """A py3langid without the internals detect_many relies on: only classify."""

        def classify(self, text: str) -> tuple[str, float]:
            lang, prob = real.classify(text)
            return str(lang), float(prob)

    assert language._batch_class(Other) is Other
    assert language._batch_class(langid.LanguageIdentifier) is not langid.LanguageIdentifier
    texts = [*SAMPLES, "Mirebalais", SAMPLES[0].upper()]
    hints = _hints(len(texts))
    expected = _one_by_one(texts, hints)
    monkeypatch.setattr(language, "_identifier", Other())
    calls = _count_calls(monkeypatch, "detect")
    assert detect_many(texts, hints) == expected
    assert calls == texts


def _count_calls(monkeypatch: pytest.MonkeyPatch, name: str, module: Any = language) -> list[Any]:
    """Record the first argument of each call of ``module.name``, still calling it."""
    calls: list[Any] = []
    original: Callable[..., Any] = getattr(module, name)

    def spy(*args: Any) -> Any:
        calls.append(args[0] if module is language else args[-1])
        return original(*args)

    monkeypatch.setattr(module, name, spy)
    return calls
