"""Figures: numbers of people freed, killed, kidnapped or injured, in three languages."""

from __future__ import annotations

import pytest

from alerts.figures import find_figures


def _figures(text: str) -> set[tuple[str, int, bool]]:
    return {(f.kind, f.value, f.at_least) for f in find_figures(text)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("More than 170 inmates escape Haiti jail", {("freed", 170, True)}),
        ("au moins 530 prisonniers se sont évadés", {("freed", 530, True)}),
        ("plus de 4 600 détenus se sont évadés", {("freed", 4600, True)}),
        ("4,000 prisoners broke out", {("freed", 4000, False)}),
        ("Une trentaine de prisonniers se sont enfuis", {("freed", 30, False)}),
        ("Plis pase 170 prizonye sove nan prizon an", {("freed", 170, True)}),
        ("At least 42 people were killed in the village", {("killed", 42, True)}),
        ("eleven of the escaped inmates were killed in shootouts", {("killed", 11, False)}),
        ("11 inmates killed in shootouts following a breakout", {("killed", 11, False)}),
        ("tuant au moins six personnes et détruisant des maisons", {("killed", 6, True)}),
        ("killed 28 alleged gang members", {("killed", 28, False)}),
        ("Quatre policiers tués, deux blessés", {("killed", 4, False), ("injured", 2, False)}),
        ("soixante-onze (71) personnes assassinées", {("killed", 71, False)}),
        ("vingt et un policiers tués", {("killed", 21, False)}),
        ("bandi yo touye plis ke 2,000 moun", {("killed", 2000, True)}),
        ("17 missionaries were kidnapped", {("kidnapped", 17, False)}),
        ("Dis moun kidnape nan wout la", {("kidnapped", 10, False)}),
        ("89 morts, 74 blessés par balle", {("killed", 89, False), ("injured", 74, False)}),
    ],
)
def test_figures(text: str, expected: set[tuple[str, int, bool]]) -> None:
    assert _figures(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "des dizaines de détenus se sont évadés",
        "hundreds of inmates escaped",
        "Le 14 août 2021 à 8 heures",
        "Le budget de 2024 prévoit 300 écoles",
        "plusieurs personnes ont été tuées",
    ],
)
def test_vague_amounts_and_unrelated_numbers_are_not_figures(text: str) -> None:
    assert _figures(text) == set()


def test_surface_and_offsets_cover_the_whole_statement() -> None:
    text = "Selon la police, plus de 500 détenus se sont évadés mardi."
    (figure,) = find_figures(text)
    assert figure.surface == "plus de 500 détenus se sont évadés"
    assert text[figure.start : figure.end] == figure.surface


def test_a_repeated_figure_is_reported_once() -> None:
    text = "More than 170 inmates escape. Video: more than 170 inmates escape."
    assert len(find_figures(text)) == 1
