"""Numbers stated in the text: inmates freed, people killed, kidnapped, injured.

A figure is a number (digits such as ``530``, ``4,000``, ``4 600``, or number words in
French, English or Creole such as ``onze``, ``one hundred seventy``, ``soixante-onze``,
``de san``) that either

* is followed within a few words by a keyword of its kind: ``plus de 500 détenus se sont
  évadés``, ``at least 42 people were killed``, ``170 prizonye sove``; or
* follows a verb of its kind and comes before a noun for people: ``tuant au moins six
  personnes``, ``killed 28 alleged gang members``.

``plus de``/``more than``/``at least``/``plis pase``/``omwen`` set ``at_least``. Vague
amounts (``dizaines``, ``hundreds``, ``plusieurs``) are not figures; ``une trentaine`` is
taken as 30.

The number words and kind keywords go into the classifier's single automaton
(:func:`patterns`); digits are looked for only near a kind keyword, so a text without one
costs nothing here. Everything runs on the normalised text (:mod:`alerts.normalize`):
the word lists below are written without accents and in lower case.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from alerts.matcher import Hit, Matcher
from alerts.normalize import Normalized, normalize
from alerts.verdict import Figure

__all__ = ["FIGURE_KINDS", "KindWord", "NumberWord", "extract_figures", "find_figures", "patterns"]

FIGURE_KINDS = ("freed", "killed", "kidnapped", "injured")


@dataclass(frozen=True, slots=True)
class NumberWord:
    """A number word: its value, and whether it multiplies what precedes (``cent``, ``mil``)."""

    value: int
    multiplier: bool = False
    #: ``une trentaine``: about that many.
    approx: bool = False


@dataclass(frozen=True, slots=True)
class KindWord:
    """A word that says what happened to the people counted (``évadés``, ``killed``)."""

    kind: str
    #: Can stand before the number (``tuant six personnes``), not only after it.
    verb: bool = False


_UNITS = {
    # French
    "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7, "huit": 8, "neuf": 9,
    "dix": 10, "onze": 11, "douze": 12, "treize": 13, "quatorze": 14, "quinze": 15, "seize": 16,
    "vingt": 20, "vingts": 20, "trente": 30, "quarante": 40, "cinquante": 50, "soixante": 60,
    # English
    "two": 2, "three": 3, "four": 4, "five": 5, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40,
    "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
    # Haitian Creole (``de`` = 2 and ``en`` = 1 are left out: they are French/English words)
    "twa": 3, "kat": 4, "senk": 5, "sis": 6, "set": 7, "uit": 8, "nef": 9, "dis": 10, "onz": 11,
    "douz": 12, "trez": 13, "katoz": 14, "kenz": 15, "sez": 16, "diset": 17, "dizuit": 18,
    "diznef": 19, "ven": 20, "trant": 30, "karant": 40, "senkant": 50, "swasant": 60,
    "katreven": 80,
}  # fmt: skip
_MULTIPLIERS = {"cent": 100, "cents": 100, "hundred": 100, "san": 100, "mille": 1000,
                "thousand": 1000, "mil": 1000}  # fmt: skip
#: "vingt et un", "twenty-one": a trailing one is read from the text after a run of number
#: words (matching "un"/"one" themselves would cost a hit on every indefinite article).
_AND_ONE = re.compile(r" (?:et un|et une|and one|one|e youn)(?!\w)")
#: ``une trentaine de détenus``: about thirty (the plural ``dizaines`` stays vague).
_APPROX = {"douzaine": 12, "quinzaine": 15, "vingtaine": 20, "trentaine": 30, "quarantaine": 40,
           "cinquantaine": 50, "soixantaine": 60, "centaine": 100}  # fmt: skip

#: Words after a number saying what happened to those counted.
_KIND_WORDS: dict[str, tuple[str, ...]] = {
    "killed": (
        "tue", "tues", "tuee", "tuees", "tuant", "tuer", "tuent", "mort", "morts", "morte",
        "mortes", "decede", "decedes", "assassine", "assassines", "assassinee", "assassinees",
        "execute", "executes", "executee", "executees", "massacre", "massacres", "abattu",
        "abattus", "perdu la vie", "trouve la mort", "ont peri", "peri", "cadavres",
        "corps sans vie", "killed", "kill", "kills", "killing", "dead", "died", "deaths",
        "murdered", "executed", "executing", "slain", "bodies", "massacred", "lost their lives",
        "touye", "mouri", "asasinen", "pedi lavi", "kadav",
    ),
    "injured": (
        "blesse", "blesses", "blessee", "blessees", "blessant", "injured", "injuring", "wounded",
        "wounding", "hurt", "blese",
    ),
    "kidnapped": (
        "kidnappe", "kidnappes", "kidnappee", "kidnappees", "enleve", "enleves", "enlevee",
        "enlevees", "enlevant", "pris en otage", "otages", "kidnapped", "kidnapping", "abducted",
        "abducting", "hostages", "taken hostage", "kidnape", "otaj",
    ),
    "freed": (
        "evade", "evades", "evadee", "evadees", "s evader", "s evadent", "echappes", "echappe",
        "s echapper", "enfuis", "enfui", "s enfuir", "en fuite", "en cavale",
        "pris la poudre d escampette", "liberes", "libere", "liberant", "relaches", "escaped",
        "escape", "escapees", "escapes", "broke out", "break out", "broken out", "freed",
        "freeing", "released", "releasing", "on the run", "at large", "on the loose", "sove",
        "chape", "lage",
    ),
}  # fmt: skip
#: Of those, the ones that may come before the number they count.
_VERBS = frozenset(
    {
        "tuant", "tue", "tues", "assassine", "execute", "abattu", "massacre", "killed", "killing",
        "kill", "murdered", "executed", "executing", "touye", "asasinen", "blessant", "blesse",
        "injured", "injuring", "wounded", "wounding", "blese", "enleve", "kidnappe", "enlevant",
        "kidnapped", "abducted", "kidnapping", "abducting", "kidnape", "libere", "liberant",
        "freed", "freeing", "released", "releasing", "lage",
    }
)  # fmt: skip

_DIGITS = re.compile(r"(?<![\w.,])(?:\d{1,3}(?:[ ,.]\d{3})+|\d+)(?![\w]|[.,]\d)")
_JOIN = re.compile(r"^ (?:(?:et|and|e) )?$")
_AT_LEAST = (
    "plus de|plus d|au moins|pas moins de|au dela de|more than|at least|over|upwards of|"
    "no fewer than|no less than|in excess of|plis pase|plis ke|omwen|o mwens|pi plis pase"
)
_ABOUT = (
    "environ|pres de|pres d|quelque|about|around|nearly|almost|some|approximately|roughly|"
    "anviwon|apepre|anviron"
)
_QUALIFIER = re.compile(rf"(?<!\w)(?:(?P<least>{_AT_LEAST})|(?P<about>{_ABOUT}))(?: une| un)? $")
#: A kind word right after "of the" describes the noun, not what happened to the number:
#: "eleven of the escaped inmates were killed".
_PARTITIVE = re.compile(r"(?:of the|of|among the|des|parmi les|pami) $")
_PEOPLE = re.compile(
    r"(?<!\w)(?:personnes|personne|people|persons|moun|gens|civils|civilians|habitants|"
    r"residents|policiers|police officers|officers|polisye|agents|detenus|prisonniers|inmates|"
    r"prisoners|prizonye|victimes|victims|viktim|enfants|children|timoun|femmes|women|fanm|"
    r"hommes|men|membres|members|gang members|bandits|bandi|autres|others|lot|passagers|"
    r"passengers|pasaje|paysans|farmers|fermiers|soldats|soldiers|gardes|guards|individus|"
    r"sitwayen|citoyens)(?!\w)"
)
_CLAUSE_END = re.compile(r"[.;:!?\n]|, ")
#: How far after a number its kind word may stand, and how far before a counting verb.
_AFTER_CHARS = 70
_AFTER_WORDS = 8
_BEFORE_CHARS = 40


class _Number(NamedTuple):
    """A number found in the normalised text."""

    start: int
    end: int
    value: int


def patterns() -> Iterator[tuple[str, bool, NumberWord | KindWord]]:
    """Number words and kind keywords for the matcher: ``(pattern, prefix, payload)``."""
    for word, value in _UNITS.items():
        yield word, False, NumberWord(value)
    for word, value in _MULTIPLIERS.items():
        yield word, False, NumberWord(value, multiplier=True)
    for word, value in _APPROX.items():
        yield word, False, NumberWord(value, approx=True)
    for kind, words in _KIND_WORDS.items():
        for word in words:
            yield word, False, KindWord(kind, verb=word in _VERBS)


def find_figures(text: str) -> tuple[Figure, ...]:
    """Figures in a raw text (normalises and scans it; the classifier shares its own pass)."""
    norm = normalize(text)
    return extract_figures(norm, _matcher().find(norm.text))


@lru_cache(maxsize=1)
def _matcher() -> Matcher[NumberWord | KindWord]:
    """A matcher of number and kind words alone (for :func:`find_figures`)."""
    return Matcher(patterns())


def extract_figures(norm: Normalized, hits: Iterable[Hit[object]]) -> tuple[Figure, ...]:
    """Figures in ``norm``, given the matcher's hits of :func:`patterns` in it (other
    payloads are ignored)."""
    words: list[Hit[NumberWord]] = []
    kinds: list[Hit[KindWord]] = []
    for hit in hits:
        if isinstance(hit.payload, NumberWord):
            words.append(hit)  # type: ignore[arg-type]
        elif isinstance(hit.payload, KindWord):
            kinds.append(hit)  # type: ignore[arg-type]
    if not kinds:
        return ()
    kinds.sort(key=lambda h: h.start)
    text = norm.text
    numbers = _numbers(text, words, kinds)
    kind_starts = [h.start for h in kinds]
    figures: list[Figure] = []
    seen: set[tuple[str, int, bool]] = set()
    for i, num in enumerate(numbers):
        limit = numbers[i + 1].start if i + 1 < len(numbers) else len(text)
        found = _figure(norm, num, limit, kinds, kind_starts)
        if found is None:
            continue
        key = (found.kind, found.value, found.at_least)
        if key not in seen:
            seen.add(key)
            figures.append(found)
    return tuple(figures)


def _numbers(text: str, words: list[Hit[NumberWord]], kinds: list[Hit[KindWord]]) -> list[_Number]:
    """Numbers near a kind keyword (digits and number-word sequences), in text order."""
    out: list[_Number] = []
    # Digits are looked for only around kind keywords: dates and years elsewhere are noise.
    region_start = region_end = -1
    for hit in kinds:
        lo, hi = max(0, hit.start - _AFTER_CHARS - 20), hit.end + _BEFORE_CHARS + 20
        if lo <= region_end:
            region_end = max(region_end, hi)
            continue
        if region_end >= 0:
            out.extend(_digits(text, region_start, region_end))
        region_start, region_end = lo, hi
    out.extend(_digits(text, region_start, region_end))

    run: list[Hit[NumberWord]] = []
    for word in sorted(words, key=lambda h: h.start):
        joins = run and not (word.payload.approx or run[-1].payload.approx)
        if joins and _JOIN.match(text[run[-1].end : word.start]):
            run.append(word)
            continue
        if run:
            out.extend(_word_number(run))
        run = [word]
    if run:
        out.extend(_word_number(run))
    out = [_with_one(text, n) for n in out]
    out.sort()
    # "soixante-onze (71)": the digits restate the words, keep one number.
    merged: list[_Number] = []
    for num in out:
        if (
            merged
            and merged[-1].value == num.value
            and not text[merged[-1].end : num.start].strip()
        ):
            merged[-1] = _Number(merged[-1].start, num.end, num.value)
            continue
        if merged and num.start < merged[-1].end:
            continue
        merged.append(num)
    return merged


def _digits(text: str, start: int, end: int) -> Iterator[_Number]:
    """Digit numbers in ``text[start:end]``."""
    for m in _DIGITS.finditer(text, start, min(end, len(text))):
        value = int(m.group().replace(" ", "").replace(",", "").replace(".", ""))
        yield _Number(m.start(), m.end(), value)


def _with_one(text: str, num: _Number) -> _Number:
    """Add a trailing "et un"/"one" to a number ending in tens: "vingt et un" = 21."""
    if num.value % 10 or num.value % 100 == 0 or num.value > 100_000:
        return num
    one = _AND_ONE.match(text, num.end)
    if one is None or not text[num.start].isalpha():
        return num
    return _Number(num.start, one.end(), num.value + 1)


def _word_number(run: list[Hit[NumberWord]]) -> list[_Number]:
    """The value of a run of number words (``deux cent cinquante`` = 250)."""
    total = current = 0
    for hit in run:
        word = hit.payload
        if word.multiplier:
            current = max(current, 1) * word.value
            if word.value >= 1000:
                total += current
                current = 0
        else:
            current += word.value
    value = total + current
    return [_Number(run[0].start, run[-1].end, value)] if value > 0 else []


def _figure(
    norm: Normalized,
    num: _Number,
    limit: int,
    kinds: list[Hit[KindWord]],
    kind_starts: list[int],
) -> Figure | None:
    """The figure stated by ``num``, if a kind word says what it counts."""
    text = norm.text
    before = text[max(0, num.start - 30) : num.start]
    qualifier = _QUALIFIER.search(before)
    at_least = bool(qualifier and qualifier.group("least"))
    start = num.start - (len(before) - qualifier.start()) if qualifier else num.start

    # After the number: the first kind word in the same clause, within a few words.
    window_end = min(limit, num.end + _AFTER_CHARS)
    cut = _CLAUSE_END.search(text, num.end, window_end)
    if cut:
        window_end = cut.start()
    words_end = num.end
    for _ in range(_AFTER_WORDS + 1):
        nxt = text.find(" ", words_end + 1, window_end)
        if nxt < 0:
            words_end = window_end
            break
        words_end = nxt
    i = bisect_left(kind_starts, num.end)
    while i < len(kinds) and kinds[i].start < words_end:
        hit = kinds[i]
        i += 1
        if hit.end > window_end:
            break
        if _PARTITIVE.search(text, num.end, hit.start):
            continue
        return _make(norm, hit.payload.kind, num.value, at_least, start, hit.end)

    # Before it: a counting verb right before (past any qualifier), then a word for people.
    j = bisect_left(kind_starts, start) - 1
    if j < 0:
        return None
    verb = kinds[j]
    if not verb.payload.verb or start - verb.end > 1 or start - verb.start > _BEFORE_CHARS:
        return None
    people = _PEOPLE.search(text, num.end, min(window_end, num.end + 40))
    if people is None or text.count(" ", num.end, people.start()) > 3:
        return None
    return _make(norm, verb.payload.kind, num.value, at_least, verb.start, people.end())


def _make(norm: Normalized, kind: str, value: int, at_least: bool, start: int, end: int) -> Figure:
    """A :class:`Figure` with offsets mapped back to the original text."""
    ostart, oend = norm.to_original(start, end)
    return Figure(
        kind=kind,
        value=value,
        at_least=at_least,
        surface=norm.original[ostart:oend],
        start=ostart,
        end=oend,
    )
