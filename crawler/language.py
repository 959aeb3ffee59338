"""Language of an item: French, Haitian Creole, English (and others, as detected)."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from array import array
from collections import Counter
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

#: Languages the detector chooses among: the ones Haitian outlets publish in, and the
#: neighbours it could otherwise confuse them with.
CANDIDATES = ("fr", "ht", "en", "es", "pt", "de", "it", "nl")

#: Characters looked at. py3langid's cost grows with the text (it was a sixth of a feed
#: item's whole processing at 2,000 characters); on the labelled dev set the first 300
#: characters already give the same answer as 2,000 (tests/test_language.py).
SAMPLE = 400

log = logging.getLogger(__name__)

_lock = threading.Lock()
_identifier: Any = None


def detect(text: str, hint: str | None = None) -> str | None:
    """The most likely language of ``text``, or ``hint`` when the text is too short to tell."""
    sample = _sample(text)
    if sample is None:
        return hint
    lang, prob = _model().classify(sample)
    return _choose(lang, prob, hint)


def detect_many(texts: Sequence[str], hints: Sequence[str | None]) -> list[str | None]:
    """``[detect(t, h) for t, h in zip(texts, hints)]``, answer for answer, for about two
    thirds of the CPU: py3langid's byte-by-byte walk of its automaton, half of ``detect``'s
    cost, is done for all the texts together with NumPy; counting and scoring are
    py3langid's own code, given the same feature indexes in the same order, so every
    probability is the same float.

    Meant for one feed's items at a time. With a py3langid whose internals differ from the
    ones this relies on, it calls :func:`detect` for each text."""
    if len(texts) != len(hints):
        raise ValueError(f"detect_many: {len(texts)} texts but {len(hints)} hints")
    ident = _model()
    walker = _walker(ident)
    if walker is None:
        return [detect(t, h) for t, h in zip(texts, hints, strict=True)]
    answers = list(hints)
    samples = [(i, s) for i, t in enumerate(texts) if (s := _sample(t)) is not None]
    encoded = [ident._encode(s) for _, s in samples]
    for (i, _), enc, visits in zip(samples, encoded, walker.visits(encoded), strict=True):
        lang, prob = ident.classify(_Walked(enc, visits))
        answers[i] = _choose(lang, prob, hints[i])
    return answers


def _sample(text: str) -> str | None:
    """What the detector looks at; None when it is too short to tell a language by."""
    sample = text[:SAMPLE].strip()
    return sample if len(sample) >= 20 else None


def _choose(lang: Any, prob: float, hint: str | None) -> str | None:
    """The source's declared language wins over an unsure guess."""
    if hint and prob < 0.6:
        return hint
    return str(lang)


def cache_file() -> Path:
    """Where the model, cut down to :data:`CANDIDATES`, is kept uncompressed.

    py3langid ships its model LZMA-compressed: loading it costs 0.7 s, paid by every process
    that detects a language (each parse worker of a crawl, each CLI command). From this file
    it loads in a few hundredths of a second. It is rebuilt whenever it is missing,
    unreadable, or from another py3langid version or candidate list."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    key = f"py3langid-{version('py3langid')}-{'-'.join(CANDIDATES)}"
    return Path(base) / "veye" / f"{key}.npz"


def _model() -> Any:
    global _identifier
    with _lock:
        if _identifier is None:
            try:
                path: Path | None = cache_file()
            except (RuntimeError, KeyError):  # no home directory to keep a cache in
                path = None
            _identifier = _from_cache(path) if path else None
            if _identifier is None:
                _identifier = _from_package()
                if path:
                    _save(_identifier, path)
    return _identifier


def _from_package() -> Any:
    from py3langid.langid import MODEL_FILE

    ident = _identifier_class().from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(list(CANDIDATES))
    return ident


def _from_cache(path: Path) -> Any:
    try:
        with np.load(path, allow_pickle=False) as data:
            return _identifier_class()(
                data["ptc"],
                data["pc"],
                data["classes"].tolist(),
                _to_array(data["nextmove"]),
                data["output"].tolist(),
                norm_probs=True,
                tk_row=_to_array(data["row"]),
            )
    except FileNotFoundError:
        return None
    except Exception as e:  # a damaged or foreign file: rebuilt from the package's model
        log.debug("language model cache %s unusable (%s); rebuilding it", path, e)
        return None


def _save(ident: Any, path: Path) -> None:
    """Write the cache; a read-only or full disk only means the next process loads slowly."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as f:
            np.savez(
                f,
                ptc=np.ascontiguousarray(ident.nb_ptc),
                pc=np.asarray(ident.nb_pc),
                classes=np.array(ident.nb_classes),
                nextmove=np.frombuffer(ident.tk_nextmove, dtype=_DTYPE[ident.tk_nextmove.typecode]),
                row=np.frombuffer(ident.tk_row, dtype=_DTYPE[ident.tk_row.typecode]),
                output=np.asarray(ident.tk_output, dtype=np.int64),
            )
        # Atomic: a process loading the cache meanwhile sees the old file or the whole new one.
        os.replace(tmp, path)
    except OSError as e:
        log.debug("language model cache %s not written: %s", path, e)
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


#: array typecodes of the model's tables and the matching NumPy types (and back).
_DTYPE = {"H": np.uint16, "I": np.uint32, "L": np.uint64}
_TYPECODE = {np.dtype(t).str: code for code, t in _DTYPE.items()}


def _to_array(values: np.ndarray[Any, Any]) -> array[int]:
    out = array(_TYPECODE[values.dtype.str])
    out.frombytes(np.ascontiguousarray(values).tobytes())
    return out


# --- Many texts at once --------------------------------------------------------------------
#
# py3langid scores a text in three steps: ``_encode`` (lower-case if all upper, NFC, UTF-8),
# ``visit_counts`` (walk a DFA over the bytes, ``state = nm[rowbase[state] + byte]``, and
# count the feature ``out[state]`` of each state that has one, in a Counter), then
# ``_sparse_score`` and ``_decide`` (naive Bayes over the counts, softmax). Only the walk is
# done differently here; its Counter is handed to py3langid's own ``_decide`` through
# ``_Walked``, so what follows is the very code ``detect`` runs, on equal inputs.

#: What the batch path needs of py3langid (0.4.0): checked, not assumed.
_METHODS = ("_encode", "_raw_score", "_sparse_score", "_decide", "classify")
_TABLES = ("tk_nextmove", "_rowbase", "tk_output")

#: Bytes per row of the batch walk, and bytes of context walked before each row but a
#: text's first. py3langid's automaton forgets all but the last few bytes it read (its
#: features are short byte n-grams), so a row started this far back is in the state the
#: text's own walk is in; that is verified for every row (see :meth:`_Walker.visits`).
_CHUNK = 32
_CONTEXT = 8

#: Texts walked together at most, to bound the matrices' memory.
_GROUP = 256


class _Walked(bytes):
    """A text as ``_encode`` made it, with the feature counts its walk found (None: none)."""

    visits: Counter[int] | None

    def __new__(cls, encoded: bytes, visits: Counter[int] | None) -> _Walked:
        self = super().__new__(cls, encoded)
        self.visits = visits
        return self


@functools.cache
def _identifier_class() -> Any:
    """The class of the loaded identifier: see :func:`_batch_class`."""
    from py3langid import langid

    if not callable(getattr(langid, "visit_counts", None)):
        return langid.LanguageIdentifier
    return _batch_class(langid.LanguageIdentifier)


def _batch_class(base: Any) -> Any:
    """py3langid's ``LanguageIdentifier`` (``base``), taught to take a :class:`_Walked` text:
    then it skips the encoding and the walk it would do itself. Any other text it handles
    as py3langid does. ``base`` itself when its internals are not the ones expected."""
    if not all(callable(getattr(base, name, None)) for name in _METHODS):
        return base

    class Identifier(base):  # type: ignore[misc]
        __slots__ = ("walker",)

        @staticmethod
        def _encode(text: Any) -> Any:
            return text if isinstance(text, _Walked) else base._encode(text)

        def _raw_score(self, text: Any) -> Any:
            if isinstance(text, _Walked) and text.visits:
                return self._sparse_score(text.visits, self.nb_ptc)
            # py3langid's own path: for a _Walked text without features, its walk finds
            # none again and it gives the score of a featureless text.
            return super()._raw_score(text)

    return Identifier


def _walker(ident: Any) -> _Walker | None:
    """The batch walker of ``ident``, built on first use; None if it cannot have one."""
    cls = _identifier_class()
    if cls is not type(ident) or not all(hasattr(ident, name) for name in _TABLES):
        return None
    try:
        return ident.walker  # type: ignore[no-any-return]
    except AttributeError:
        pass
    from py3langid.langid import visit_counts

    # Two threads may both build one: the same tables, and either will do.
    tables = (ident.tk_nextmove, ident._rowbase, ident.tk_output)
    walker = _Walker(*tables)
    # A py3langid with these names but another automaton would fail this (and any text).
    probe = ident._encode(_PROBE)
    if _order(walker.visits([probe])[0]) != _order(visit_counts(*tables, probe)):
        log.warning("py3langid's automaton is not the one detect_many knows; not batching")
        ident.walker = None
        return None
    ident.walker = walker
    return walker


#: Enough bytes for several rows of the walk, in the candidates' languages.
_PROBE = " ".join(
    (
        "Des détenus se sont évadés de la prison civile de Mirebalais ce samedi matin.",
        "Bandi yo atake komisarya a nan Mirebalais, plizyè moun mouri e lòt blese.",
        "Gunmen attacked the police station in Mirebalais on Saturday, freeing inmates.",
    )
)


def _order(visits: Counter[int] | None) -> list[tuple[int, int]]:
    return list(visits.items()) if visits else []


class _Walker:
    """py3langid's ``visit_counts`` for many byte strings at once.

    The texts are cut into rows of :data:`_CHUNK` bytes, each preceded by the
    :data:`_CONTEXT` bytes before it in its text (a text's first row starts from state 0,
    as py3langid's walk does), and all rows are walked together, one byte position per
    NumPy step. A row's states are its text's states if the state it reached at the end of
    its context is the state its text's previous row ended in: the automaton being
    deterministic, checking this for every row proves each text's walk identical to
    py3langid's. A text where it fails (never seen with py3langid 0.4.0's model) is walked
    by py3langid's ``visit_counts`` instead."""

    def __init__(
        self,
        nextmove: Any,
        rowbase: Any,
        output: Any,
        *,
        chunk: int = _CHUNK,
        context: int = _CONTEXT,
    ) -> None:
        self.chunk, self.context = chunk, context
        self._nm_raw, self._rowbase_raw, self._out_raw = nextmove, rowbase, output
        #: Zero-copy view of the transition table (tens of MB); small tables copied.
        self.nm: np.ndarray[Any, Any] = np.asarray(memoryview(nextmove))
        self.rowbase = np.asarray(rowbase, dtype=np.intp)
        self.out = np.asarray(output, dtype=np.intp)

    def visits(self, encoded: Sequence[bytes]) -> list[Counter[int] | None]:
        """For each byte string, what ``visit_counts`` returns for it, in the same order."""
        found: list[Counter[int] | None] = []
        for start in range(0, len(encoded), _GROUP):
            found.extend(self._group(encoded[start : start + _GROUP]))
        return found

    def _group(self, encoded: Sequence[bytes]) -> list[Counter[int] | None]:
        n = len(encoded)
        if n == 0:
            return []
        chunk, context = self.chunk, self.context
        width = context + chunk
        lengths = np.fromiter(map(len, encoded), dtype=np.intp, count=n)
        chunks = np.maximum(-(-lengths // chunk), 1)
        most = int(chunks.max())
        # Each text behind `context` zero bytes, padded to whole chunks: row j of a text
        # is then bytes [j*chunk, j*chunk + width) of its line.
        lead = bytes(context)
        padded = np.frombuffer(
            b"".join(lead + e.ljust(most * chunk, b"\0") for e in encoded), dtype=np.uint8
        ).reshape(n, context + most * chunk)
        windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=1)[:, ::chunk]
        used = np.arange(most) < chunks[:, None]
        steps = np.ascontiguousarray(windows[used].T, dtype=np.intp)  # byte k of every row
        rows = steps.shape[1]
        owners = np.repeat(np.arange(n), chunks)
        starts = np.concatenate(([0], np.cumsum(chunks)[:-1]))  # each text's first row

        nm, rowbase = self.nm, self.rowbase
        state = np.zeros(rows, dtype=nm.dtype)
        index = np.empty(rows, dtype=np.intp)
        states = np.empty((chunk, rows), dtype=nm.dtype)
        for k in range(width):
            if k == context:
                context_end = state.copy()
                state[starts] = 0  # a text's first row: py3langid's start state
            np.take(rowbase, state, out=index, mode="clip")
            index += steps[k]
            np.take(nm, index, out=state, mode="clip")
            if k >= context:
                states[k - context] = state

        # Rows whose context did not lead to the state the previous row ended in.
        later = np.ones(rows, dtype=bool)
        later[starts] = False
        (wrong,) = np.nonzero(later & (context_end != np.roll(states[-1], 1)))
        redo = set(owners[wrong].tolist())

        # Each text's feature indexes in walk order: the list py3langid counts.
        outputs = self.out[states.T]
        row_of_chunk = np.arange(rows) - starts[owners]
        real = np.arange(chunk) < (lengths[owners] - row_of_chunk * chunk)[:, None]
        kept = real & (outputs >= 0)
        indexes = outputs[kept].tolist()
        bounds = np.concatenate(([0], np.cumsum(np.bincount(owners, kept.sum(axis=1), n))))
        at = bounds.astype(np.intp).tolist()

        from py3langid.langid import visit_counts

        found: list[Counter[int] | None] = []
        for t in range(n):
            if t in redo:
                raw = (self._nm_raw, self._rowbase_raw, self._out_raw)
                found.append(visit_counts(*raw, encoded[t]))
            else:
                found.append(Counter(indexes[at[t] : at[t + 1]]) if at[t + 1] > at[t] else None)
        return found
