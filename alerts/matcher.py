"""One-pass multi-pattern matching over normalised text (Aho-Corasick).

Every rule term, gazetteer alias and number word goes into one automaton, so a text is
scanned once whatever the size of the rule set. Patterns are normalised
(:func:`alerts.normalize.fold`) and stored with a leading space (and again with a leading
line break): since the normalised text puts one of those before every word, a hit can only
start at a word start. The right edge is
checked after the fact: an exact pattern must end at a word end, a prefix pattern
(``évad*``) is extended to the end of the word it starts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Generic, NamedTuple, TypeVar

import ahocorasick

__all__ = ["Hit", "Matcher"]

P = TypeVar("P")
P_co = TypeVar("P_co", covariant=True)

_WORD_TAIL = re.compile(r"\w*")


class Hit(NamedTuple, Generic[P_co]):
    """A pattern found in the normalised text: ``text[start:end]`` is the matched word(s).

    A named tuple rather than a dataclass: a text yields hundreds and creation is cheaper.
    """

    start: int
    end: int
    payload: P_co


class Matcher(Generic[P]):
    """Finds all patterns in a normalised text in one pass.

    ``patterns`` yields ``(pattern, prefix, payload)``: ``pattern`` already normalised
    (no leading space), ``prefix`` true when it should match any word it starts.
    Several payloads may share a pattern; each is reported.
    """

    def __init__(self, patterns: Iterable[tuple[str, bool, P]]) -> None:
        exact: dict[str, list[P]] = {}
        prefix: dict[str, list[P]] = {}
        for pattern, is_prefix, payload in patterns:
            if not pattern or pattern != pattern.strip():
                raise ValueError(f"pattern must be normalised and non-empty: {pattern!r}")
            (prefix if is_prefix else exact).setdefault(pattern, []).append(payload)
        self._automaton = ahocorasick.Automaton()
        for key in exact.keys() | prefix.keys():
            # The value carries the key length so a hit's start needs no lookup. A word starts
            # after a space or a line break (see alerts.normalize): one key for each.
            value = (len(key) + 1, tuple(exact.get(key, ())), tuple(prefix.get(key, ())))
            self._automaton.add_word(" " + key, value)
            self._automaton.add_word("\n" + key, value)
        self._size = len(exact.keys() | prefix.keys())
        if self._size:
            self._automaton.make_automaton()

    def __len__(self) -> int:
        """The number of distinct patterns."""
        return self._size

    def find(self, text: str) -> list[Hit[P]]:
        """All hits in ``text`` (a :class:`~alerts.normalize.Normalized` ``.text``), by end."""
        if not self._size:
            return []
        hits: list[Hit[P]] = []
        append = hits.append
        # tuple.__new__ skips the named tuple's Python-level constructor: this loop runs
        # once per candidate match and dominates the cost of a text.
        new = tuple.__new__
        n = len(text)
        for last, (klen, exact, prefix) in self._automaton.iter(text):
            start = last - klen + 2
            after = last + 1
            at_word_end = after >= n or not text[after].isalnum()
            if exact and at_word_end:
                for payload in exact:
                    append(new(Hit, (start, after, payload)))
            if prefix:
                end = after
                if not at_word_end:
                    tail = _WORD_TAIL.match(text, after)
                    end = tail.end() if tail else after
                for payload in prefix:
                    append(new(Hit, (start, end, payload)))
        return hits
