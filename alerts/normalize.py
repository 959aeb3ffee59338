"""Text normalisation for matching, with a map back to the original offsets.

The normalised form is what rule terms and gazetteer aliases are matched against:

* case-folded (``Pòtoprens`` -> ``potoprens``) and stripped of accents (``é`` -> ``e``);
* apostrophes, hyphens, quotes, brackets and other symbols become a space, so
  ``Port-au-Prince``, ``Port au Prince`` and ``d'Haïti`` -> ``d haiti`` all meet the
  same patterns; ``. , ; : ! ? %`` are kept (sentences and numbers need them);
* every line break becomes ``"\\n"`` (kept: it ends a sentence) and a run of two or more
  spaces becomes one space, so phrases match across any spacing within a line;
* the whole text is preceded by one space, so that every word starts after a blank
  (the matcher anchors patterns on a space or line break instead of checking left
  boundaries).

:class:`Normalized` keeps enough to turn a span of the normalised text back into a span of
the original, so evidence offsets point at the characters the reader sees.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Normalized", "fold", "normalize"]

#: Punctuation kept as itself: sentence ends and number separators.
_KEEP = frozenset(".,;:!?%")
#: Letters that Unicode does not decompose but a reader treats as plain Latin.
_LIGATURES = {"æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ð": "d", "þ": "th", "ł": "l", "ı": "i"}
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
#: Marks a character whose folded form is not exactly one character (deleted or expanded).
_SPECIAL = "\x00"
#: The translate tables cover Latin, Greek, Cyrillic and general punctuation; characters
#: past this pass through unchanged (``str.translate`` leaves them when the lookup fails).
_TABLE_SIZE = 0x2500

_FIXUP = re.compile(r" {2,}|\x00")


def _fold_char(ch: str, fold_case: bool) -> str:
    """The normalised form of one character: usually one character, sometimes none or two."""
    if ch in _LINE_BREAKS:
        return "\n"
    if ch.isspace():
        return " "
    if ch == "…":
        return "."
    category = unicodedata.category(ch)
    if category == "Mn":
        # A combining mark on its own belongs to the previous letter (decomposed input).
        return ""
    if category == "Cf":
        # Soft hyphens and zero-width joiners sit inside words: drop them, do not split.
        return ""
    if category[0] in "PSCZ":
        return ch if ch in _KEEP else " "
    decomposed = "".join(
        c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)
    )
    if fold_case:
        decomposed = decomposed.casefold()
    return "".join(_LIGATURES.get(c, c) for c in decomposed)


@lru_cache(maxsize=2)
def _tables(fold_case: bool) -> tuple[list[str], dict[str, str]]:
    """A ``str.translate`` table (one character per code point) and the expansions it defers."""
    table: list[str] = []
    expand: dict[str, str] = {}
    for code in range(_TABLE_SIZE):
        ch = chr(code)
        folded = _fold_char(ch, fold_case)
        if len(folded) == 1 and folded != _SPECIAL:
            table.append(folded)
        else:
            # Keeping the table one-to-one lets the fast C translate do the bulk of the work;
            # the rare deletions/expansions are applied in the second pass.
            table.append(_SPECIAL)
            expand[ch] = folded
    return table, expand


@dataclass(frozen=True, slots=True)
class Normalized:
    """A normalised text and the map from its offsets back to the original's."""

    original: str
    #: The normalised text; always starts with a space.
    text: str
    # Segment starts in ``text``, matching starts in ``original``, and for a replaced
    # segment the length it replaced (``-1`` for a segment copied one-to-one).
    _norm_starts: tuple[int, ...]
    _orig_starts: tuple[int, ...]
    _replaced: tuple[int, ...]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map the span ``[start, end)`` of :attr:`text` to a span of :attr:`original`."""
        # Inlined (no helper calls): evidence and entities map many spans per text.
        starts = self._norm_starts
        i = bisect_right(starts, start) - 1
        if i < 0:
            ostart = 0
        elif self._replaced[i] < 0:
            ostart = self._orig_starts[i] + start - starts[i]
        else:
            ostart = self._orig_starts[i]
        if end <= 0:
            return ostart, 0
        j = bisect_right(starts, end - 1) - 1
        if j < 0:
            return ostart, 0
        replaced = self._replaced[j]
        oend = self._orig_starts[j] + (end - starts[j] if replaced < 0 else replaced)
        original = self.original
        # A decomposed accent after the last letter belongs to the span ("évadé" + U+0301).
        while (
            oend < len(original)
            and original[oend] >= "\u0300"
            and unicodedata.combining(original[oend])
        ):
            oend += 1
        return ostart, oend

    def original_slice(self, start: int, end: int) -> str:
        """The original text behind the span ``[start, end)`` of :attr:`text`."""
        s, e = self.to_original(start, end)
        return self.original[s:e]


def normalize(text: str, *, fold_case: bool = True) -> Normalized:
    """Normalise ``text`` for matching (see the module docstring).

    ``fold_case=False`` keeps the case (used to check case-sensitive aliases).
    """
    table, expand = _tables(fold_case)
    translated = text.translate(table)
    if "  " not in translated and _SPECIAL not in translated:
        # The common case: nothing to collapse or expand, offsets shift by the leading space.
        return Normalized(text, " " + translated, (0, 1), (0, 0), (0, -1))
    parts: list[str] = [" "]
    norm_starts: list[int] = [0]
    orig_starts: list[int] = [0]
    replaced: list[int] = [0]
    npos = 1
    opos = 0
    for m in _FIXUP.finditer(translated):
        s, e = m.span()
        if s > opos:
            parts.append(translated[opos:s])
            norm_starts.append(npos)
            orig_starts.append(opos)
            replaced.append(-1)
            npos += s - opos
        rep = expand.get(text[s], " ") if e - s == 1 else " "
        if rep:
            parts.append(rep)
            norm_starts.append(npos)
            orig_starts.append(s)
            replaced.append(e - s)
            npos += len(rep)
        opos = e
    if opos < len(translated):
        parts.append(translated[opos:])
        norm_starts.append(npos)
        orig_starts.append(opos)
        replaced.append(-1)
    return Normalized(
        original=text,
        text="".join(parts),
        _norm_starts=tuple(norm_starts),
        _orig_starts=tuple(orig_starts),
        _replaced=tuple(replaced),
    )


def fold(text: str, *, fold_case: bool = True) -> str:
    """The normalised form of a short string, without the leading space (terms, aliases).

    Line breaks become spaces here: a term or alias is one line.
    """
    table, _ = _tables(fold_case)
    translated = text.translate(table)
    if _SPECIAL in translated:
        translated = normalize(text, fold_case=fold_case).text
    return " ".join(translated.split())
