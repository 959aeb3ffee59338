"""Near-duplicate text detection: word shingles, MinHash signatures and LSH band hashes.

Pure functions, no database. A text becomes the set of its ``SHINGLE_WORDS``-word shingles
(lowercased, accents and punctuation dropped); its MinHash signature is ``NUM_PERM``
minimums of that set under as many hash functions, and two signatures agree at a position
with probability equal to the Jaccard similarity of the two sets. The signature is cut into
``BANDS`` bands of ``ROWS`` values; texts sharing any whole band are *candidates*
(probability ``1 - (1 - J**ROWS)**BANDS``: 0.99+ from J = 0.6, under 1% below J = 0.15),
and candidates are then verified with :func:`similarity`.

Everything is deterministic across processes and machines (no Python ``hash()``, no NumPy
random streams): signatures and band hashes are stored in the database, so changing any
constant or hash below is a breaking change that needs the stored signatures rebuilt.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = [
    "BANDS",
    "MIN_WORDS",
    "NUM_PERM",
    "ROWS",
    "SHINGLE_WORDS",
    "Signature",
    "band_hashes",
    "band_hashes_many",
    "from_bytes",
    "jaccard",
    "normalise",
    "shingles",
    "signature",
    "signatures",
    "similarity",
    "to_bytes",
    "words",
]

#: Words per shingle: 4 tells a copied sentence from two texts that merely share phrases
#: like "de la prison civile".
SHINGLE_WORDS = 4
NUM_PERM = 128
BANDS = 32
ROWS = NUM_PERM // BANDS
#: Texts shorter than this get no signature: a one-line summary or a "read more" stub
#: shares too much with unrelated stubs to say anything.
MIN_WORDS = 20

Signature = npt.NDArray[np.uint32]

_WORD = re.compile(r"\w+")
#: Combining marks left by NFKD: the accents of é, è, ò, ç...
_MARKS = re.compile(r"[\u0300-\u036f]")
_MASK64 = (1 << 64) - 1


def _splitmix64(state: int) -> tuple[int, int]:
    """The next (state, value) of SplitMix64: fixed constants from a fixed seed."""
    state = (state + 0x9E3779B97F4A7C15) & _MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return state, z ^ (z >> 31)


def _constants(seed: int, n: int) -> list[int]:
    out = []
    for _ in range(n):
        seed, value = _splitmix64(seed)
        out.append(value)
    return out


_C = _constants(0x7665_7965, 2 * NUM_PERM + SHINGLE_WORDS + BANDS)
#: Multiply-add-shift hash family on 32-bit keys: ``h(x) = (a*x + b) >> 32`` (a odd).
_A = np.array([c | 1 for c in _C[:NUM_PERM]], dtype=np.uint64)
_B = np.array(_C[NUM_PERM : 2 * NUM_PERM], dtype=np.uint64)
#: Per-position multipliers combining a shingle's word hashes.
_POS = [np.uint64(c | 1) for c in _C[2 * NUM_PERM : 2 * NUM_PERM + SHINGLE_WORDS]]
_BAND_SALT = np.array(_C[2 * NUM_PERM + SHINGLE_WORDS :], dtype=np.uint64)


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """SplitMix64's finaliser over an array (uint64 arithmetic wraps, as intended)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def normalise(text: str) -> str:
    """Lowercase, accents stripped, punctuation gone, one space between words."""
    bare = _MARKS.sub("", unicodedata.normalize("NFKD", text.casefold()))
    return " ".join(_WORD.findall(bare))


def words(text: str) -> list[str]:
    """The words of ``text`` after :func:`normalise`."""
    return normalise(text).split()


def shingles(text: str, size: int = SHINGLE_WORDS) -> npt.NDArray[np.uint32]:
    """The distinct ``size``-word shingles of ``text``, as 32-bit hashes (sorted). A text with
    fewer than ``size`` words is one shingle; an empty text has none."""
    return _shingles(words(text), size)


def _shingles(ws: list[str], size: int) -> npt.NDArray[np.uint32]:
    if not ws:
        return np.zeros(0, dtype=np.uint32)
    hashed = np.array([zlib.crc32(w.encode()) for w in ws], dtype=np.uint64)
    n = max(len(ws) - size + 1, 1)
    combined = np.zeros(n, dtype=np.uint64)
    for j in range(min(size, len(ws))):
        combined ^= _mix(hashed[j : j + n] * _POS[j] + np.uint64(j))
    folded = (combined ^ (combined >> np.uint64(32))) & np.uint64(0xFFFFFFFF)
    return np.unique(folded.astype(np.uint32))


def signature(text: str, *, min_words: int = MIN_WORDS) -> Signature | None:
    """The MinHash signature of ``text`` (``NUM_PERM`` unsigned 32-bit values), or ``None``
    when it has fewer than ``min_words`` words."""
    ws = words(text)
    if len(ws) < min_words:
        return None
    return _minhash(_shingles(ws, SHINGLE_WORDS))


def signatures(texts: Sequence[str], *, min_words: int = MIN_WORDS) -> list[Signature | None]:
    """:func:`signature` of each text of a batch, worked out for the whole batch at once: the
    same values, without the per-text cost of a few dozen small array operations (which was
    most of the cost of signing a news item one text at a time)."""
    out: list[Signature | None] = [None] * len(texts)
    chunk: list[tuple[int, list[str]]] = []
    shingled = 0
    for i, text in enumerate(texts):
        ws = words(text)
        if len(ws) < max(min_words, SHINGLE_WORDS):
            if len(ws) >= min_words:  # too few words for one full shingle: the slow way
                out[i] = _minhash(_shingles(ws, SHINGLE_WORDS))
            continue
        chunk.append((i, ws))
        shingled += len(ws)
        if shingled >= _BATCH_SHINGLES:
            _sign_many(chunk, out)
            chunk, shingled = [], 0
    if chunk:
        _sign_many(chunk, out)
    return out


#: Shingles signed in one go, at most: bounds the (shingles x NUM_PERM) working array.
_BATCH_SHINGLES = 2_000


def _sign_many(texts: list[tuple[int, list[str]]], out: list[Signature | None]) -> None:
    """Sign texts of at least SHINGLE_WORDS words each into ``out`` (by their index)."""
    hashed = np.array([zlib.crc32(w.encode()) for _, ws in texts for w in ws], dtype=np.uint64)
    # Shingle k of a text starts at its word k; each text's last SHINGLE_WORDS - 1 words start
    # none (a shingle never spans two texts).
    lengths = np.array([len(ws) for _, ws in texts])
    counts = lengths - SHINGLE_WORDS + 1
    text_starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    shingle_starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    first = np.repeat(text_starts - shingle_starts, counts) + np.arange(counts.sum())
    combined = np.zeros(len(first), dtype=np.uint64)
    for j in range(SHINGLE_WORDS):
        combined ^= _mix(hashed[first + j] * _POS[j] + np.uint64(j))
    folded = ((combined ^ (combined >> np.uint64(32))) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    # MinHash of a set is the minimum over its members: a repeated shingle changes nothing, so
    # the per-text de-duplication of _shingles is not needed here.
    values = folded.astype(np.uint64)[:, None] * _A[None, :]
    values += _B[None, :]
    values >>= np.uint64(32)
    mins = np.minimum.reduceat(values, shingle_starts, axis=0).astype(np.uint32)
    for (i, _), sig in zip(texts, mins, strict=True):
        out[i] = sig


def _minhash(hashes: npt.NDArray[np.uint32]) -> Signature:
    x = hashes.astype(np.uint64)[:, None]
    # One row per shingle, one column per hash function; the product wraps mod 2**64.
    values = (x * _A[None, :] + _B[None, :]) >> np.uint64(32)
    out: Signature = values.min(axis=0).astype(np.uint32)
    return out


def similarity(a: Signature, b: Signature) -> float:
    """Estimated Jaccard similarity of the shingle sets behind two signatures."""
    return float(np.count_nonzero(a == b)) / len(a)


def jaccard(a: npt.NDArray[np.uint32], b: npt.NDArray[np.uint32]) -> float:
    """Exact Jaccard similarity of two shingle sets (for checks and tests)."""
    union = np.union1d(a, b).size
    return np.intersect1d(a, b).size / union if union else 1.0


def band_hashes(sig: Signature) -> list[int]:
    """One signed 64-bit hash per band (SQLite integers are signed); band ``i`` of two
    signatures hashes alike exactly when its ``ROWS`` values are equal (bar 2**-64 chance)."""
    rows = sig.astype(np.uint64).reshape(BANDS, ROWS)
    h = _BAND_SALT.copy()
    for r in range(ROWS):
        h = _mix(h ^ (rows[:, r] + np.uint64(r << 32)))
    return [int(v) for v in h.view(np.int64)]


def band_hashes_many(sigs: npt.NDArray[np.uint32]) -> npt.NDArray[np.int64]:
    """:func:`band_hashes` of each row of an ``(n, NUM_PERM)`` array, as an ``(n, BANDS)``
    array."""
    rows = sigs.astype(np.uint64).reshape(len(sigs), BANDS, ROWS)
    h = np.broadcast_to(_BAND_SALT, (len(sigs), BANDS)).copy()
    for r in range(ROWS):
        h = _mix(h ^ (rows[:, :, r] + np.uint64(r << 32)))
    out: npt.NDArray[np.int64] = h.view(np.int64)
    return out


def to_bytes(sig: Signature) -> bytes:
    """The signature as stored: little-endian 32-bit values."""
    return sig.astype("<u4").tobytes()


def from_bytes(data: bytes) -> Signature:
    out: Signature = np.frombuffer(data, dtype="<u4").astype(np.uint32)
    return out
