"""The one-pass matcher: word boundaries, prefixes, shared patterns."""

from __future__ import annotations

from alerts.matcher import Matcher
from alerts.normalize import fold, normalize


def _found(matcher: Matcher[str], text: str) -> list[tuple[str, str]]:
    norm = normalize(text)
    return sorted((h.payload, norm.original_slice(h.start, h.end)) for h in matcher.find(norm.text))


def test_whole_words_only() -> None:
    m = Matcher([(fold("bandi"), False, "bandi"), (fold("gang"), False, "gang")])
    assert _found(m, "Les bandits et les gangsters") == []
    assert _found(m, "Bandi yo ak gang lan") == [("bandi", "Bandi"), ("gang", "gang")]


def test_prefix_terms_match_any_word_they_start_and_report_the_whole_word() -> None:
    m = Matcher([(fold("évad"), True, "evad*")])
    assert _found(m, "Ils se sont évadés; l'évadé court.") == [
        ("evad*", "évadé"),
        ("evad*", "évadés"),
    ]
    assert _found(m, "une invasion") == []  # not inside a word


def test_phrases_match_across_hyphens_apostrophes_and_line_breaks_within_a_line() -> None:
    m = Matcher([(fold("Port-au-Prince"), False, "pap"), (fold("s'évad"), True, "s-evad")])
    assert _found(m, "PORT AU PRINCE, ils ont tenté de s’évader") == [
        ("pap", "PORT AU PRINCE"),
        ("s-evad", "s’évader"),
    ]


def test_words_after_a_line_break_or_at_the_start_are_found() -> None:
    m = Matcher([(fold("prison"), False, "p")])
    assert _found(m, "prison\nprison\n\nprison") == [("p", "prison")] * 3


def test_several_payloads_may_share_a_pattern() -> None:
    m = Matcher([("gang", False, "a"), ("gang", False, "b"), ("gang", True, "c")])
    assert _found(m, "un gang armé") == [("a", "gang"), ("b", "gang"), ("c", "gang")]
    assert len(m) == 1


def test_an_empty_matcher_finds_nothing() -> None:
    assert Matcher[str]([]).find(" anything") == []
