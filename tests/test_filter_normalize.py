"""Normalisation: folding, separators, and the map back to original offsets."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.normalize import fold, normalize


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("Pòtoprens", "potoprens"),
        ("ÉVASION", "evasion"),
        ("Cité Soleil", "cite soleil"),
        ("Port-au-Prince", "port au prince"),
        ("Port – au – Prince", "port au prince"),
        ("s’évader", "s evader"),
        ("Vitel'Homme", "vitel homme"),
        ("«Bwa Kale»", "bwa kale"),
        ("cœur", "coeur"),
        ("Straße", "strasse"),
        ("pri\u00adson", "prison"),  # soft hyphen inside a word
        ("e\u0301vasion", "evasion"),  # decomposed accent
    ],
)
def test_fold(raw: str, folded: str) -> None:
    assert fold(raw) == folded


def test_fold_can_keep_case() -> None:
    assert fold("Pétion-Ville", fold_case=False) == "Petion Ville"


def test_text_starts_with_a_space_and_keeps_line_breaks_and_sentence_marks() -> None:
    norm = normalize("Attaque à Mirebalais.\n\nDétenus: 500, évadés!")
    assert norm.text == " attaque a mirebalais.\n\ndetenus: 500, evades!"


def test_runs_of_spaces_collapse() -> None:
    assert normalize("a  (  b )   c").text == " a b c"


@pytest.mark.parametrize(
    ("raw", "word", "original"),
    [
        ("Des détenus — «évadés» de Pòtoprens", "potoprens", "Pòtoprens"),
        ("Des détenus — «évadés» de Pòtoprens", "evades", "évadés"),
        ("x  ß  Straße\n\nPort-au-Prince", "port au prince", "Port-au-Prince"),
        ("x  ß  Straße\n\nPort-au-Prince", "strasse", "Straße"),
        ("soft pri\u00adson here", "prison", "pri\u00adson"),
        ("e\u0301vade\u0301", "evade", "e\u0301vade\u0301"),
    ],
)
def test_offsets_point_at_the_original_characters(raw: str, word: str, original: str) -> None:
    norm = normalize(raw)
    start = norm.text.index(word)
    assert norm.original_slice(start, start + len(word)) == original
    ostart, oend = norm.to_original(start, start + len(word))
    assert raw[ostart:oend] == original


_TEXT = st.text(
    alphabet=st.sampled_from([*"abcdeéèàòÉÈÔ   -'’.,\n«»()ßœ", "\u0301", "\u00ad"]),
    max_size=60,
)


@settings(max_examples=150, deadline=None, database=None)
@given(_TEXT)
def test_every_normalised_word_maps_back_to_a_span_that_folds_to_it(raw: str) -> None:
    norm = normalize(raw)
    for m in re.finditer(r"\w+", norm.text):
        back = norm.original_slice(*m.span())
        assert fold(back) == m.group()
