"""Language of an item: French, Haitian Creole, English (and others, as detected)."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from array import array
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
    sample = text[:SAMPLE].strip()
    if len(sample) < 20:
        return hint
    lang, prob = _model().classify(sample)
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
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(list(CANDIDATES))
    return ident


def _from_cache(path: Path) -> Any:
    from py3langid.langid import LanguageIdentifier

    try:
        with np.load(path, allow_pickle=False) as data:
            return LanguageIdentifier(
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
