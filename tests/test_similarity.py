"""MinHash near-duplicate detection (``storage.similarity``): normalisation, estimates against
exact Jaccard, LSH bands, and stability of what is stored."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from storage import similarity as sim

VOCAB = [f"{a}{b}" for a in ("ka", "le", "mi", "ro", "su", "ta", "vo", "ze") for b in range(60)]
words = st.lists(st.sampled_from(VOCAB), min_size=sim.MIN_WORDS, max_size=120)
TEXT = (
    "Des gangs armés ont attaqué samedi la prison civile de Mirebalais, libérant plus de 500 "
    "détenus, selon la Police nationale d'Haïti, qui a envoyé des renforts dans la commune."
)


def test_normalise_drops_case_accents_and_punctuation() -> None:
    assert (
        sim.normalise("L'ÉVASION à Mirebalais : 500 détenus !")
        == "l evasion a mirebalais 500 detenus"
    )
    assert sim.normalise("Pòtoprens, Kabarè…") == "potoprens kabare"
    assert sim.words("  ") == []


def test_a_copy_with_other_case_accents_and_punctuation_is_identical() -> None:
    shouted = TEXT.upper().replace("É", "E").replace(",", " ;")
    a, b = sim.signature(TEXT), sim.signature(shouted)
    assert a is not None
    assert b is not None
    assert sim.similarity(a, b) == 1.0


def test_short_texts_get_no_signature() -> None:
    assert sim.signature("Texte de la nouvelle numéro 1.") is None
    assert sim.signature(" ".join(["mot"] * sim.MIN_WORDS)) is not None
    assert sim.signature("un deux trois", min_words=3) is not None


def test_unrelated_texts_are_not_similar_and_rarely_candidates() -> None:
    rng = random.Random(7)
    hits = 0
    base = sim.signature(TEXT)
    assert base is not None
    for _ in range(200):
        other = sim.signature(" ".join(rng.choice(VOCAB) for _ in range(80)))
        assert other is not None
        assert sim.similarity(base, other) < 0.1
        hits += bool(set(enumerate(sim.band_hashes(base))) & set(enumerate(sim.band_hashes(other))))
    assert hits == 0


def test_copies_with_a_new_headline_and_footer_are_candidates_and_verified() -> None:
    body = TEXT + " " + TEXT.replace("samedi", "dimanche")
    copy = "Par la rédaction. " + body + " Tous droits réservés, reproduction interdite."
    a, b = sim.signature(body), sim.signature(copy)
    assert a is not None
    assert b is not None
    assert sim.similarity(a, b) >= 0.6
    shared = [x == y for x, y in zip(sim.band_hashes(a), sim.band_hashes(b), strict=True)]
    assert any(shared)


def test_signatures_and_bands_are_stable_across_processes_and_versions() -> None:
    """The stored signatures depend on these values: if this fails, the hashing changed and
    every stored signature must be rebuilt (a migration), not this test updated."""
    sig = sim.signature(TEXT)
    assert sig is not None
    assert sig.dtype == np.uint32
    assert sig.shape == (sim.NUM_PERM,)
    assert sig[:4].tolist() == [75516142, 306839832, 202393187, 142735652]
    assert sim.band_hashes(sig)[:2] == [8896988556138255550, 7254351880431302313]
    assert sim.from_bytes(sim.to_bytes(sig)).tolist() == sig.tolist()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(words)
def test_identical_texts_always_match(ws: list[str]) -> None:
    text = " ".join(ws)
    a, b = sim.signature(text), sim.signature(text)
    assert a is not None
    assert b is not None
    assert sim.similarity(a, b) == 1.0
    assert sim.band_hashes(a) == sim.band_hashes(b)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(
    words,
    st.lists(st.sampled_from(VOCAB), max_size=80),
    st.lists(st.sampled_from(VOCAB), max_size=80),
)
def test_the_estimate_is_close_to_the_exact_jaccard(
    common: list[str], left: list[str], right: list[str]
) -> None:
    """128 permutations: the estimate's standard error is at most 0.044; 0.25 is over 5 of
    them, so this cannot fail by chance in any realistic number of runs."""
    a_text, b_text = " ".join(left + common), " ".join(common + right)
    a, b = sim.signature(a_text), sim.signature(b_text)
    assert a is not None
    assert b is not None
    exact = sim.jaccard(sim.shingles(a_text), sim.shingles(b_text))
    assert abs(sim.similarity(a, b) - exact) <= 0.25


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.text(max_size=300))
def test_normalise_is_idempotent(text: str) -> None:
    once = sim.normalise(text)
    assert sim.normalise(once) == once
    assert once == once.strip()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    st.lists(st.lists(st.sampled_from(VOCAB), max_size=60), min_size=1, max_size=12),
    st.integers(min_value=1, max_value=25),
)
def test_a_batch_is_signed_exactly_as_each_text_alone(
    texts: list[list[str]], min_words: int
) -> None:
    # Long enough batches cross the chunk size, so chunk edges are covered too.
    batch = [" ".join(ws) for ws in texts] * 40
    one_by_one = [sim.signature(t, min_words=min_words) for t in batch]
    together = sim.signatures(batch, min_words=min_words)
    assert len(together) == len(batch)
    for alone, signed in zip(one_by_one, together, strict=True):
        if alone is None:
            assert signed is None
        else:
            assert signed is not None
            assert signed.dtype == np.uint32
            assert np.array_equal(alone, signed)
