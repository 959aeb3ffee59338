"""How much unrelated stories share: the Jaccard similarity of their four-word runs, on the
labelled dev set of real news excerpts and on the bench corpus (each shape).

``python -m bench.overlap`` prints the median, 99th and 99.9th percentiles and the largest
value for each, and the mean chance that a pair becomes a near-duplicate candidate under
veye's LSH bands (every item compared with so many others makes that chance a cost)."""

from __future__ import annotations

import itertools
import json
import random
import statistics
from pathlib import Path

from bench.corpus import SHAPES, build
from storage import similarity

DEV_SET = Path(__file__).resolve().parents[2] / "shared" / "eval" / "dev.jsonl"


def shingles(text: str) -> set[str]:
    words = text.lower().split()
    n = similarity.SHINGLE_WORDS
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def candidate_chance(j: float) -> float:
    """Chance that two texts this similar share an LSH band."""
    return float(1 - (1 - j**similarity.ROWS) ** similarity.BANDS)


def summary(values: list[float]) -> str:
    values = sorted(values)
    n = len(values)
    chance = statistics.fmean(candidate_chance(v) for v in values)
    return (
        f"{n} pairs: median {values[n // 2]:.3f}, p99 {values[int(n * 0.99)]:.3f}, "
        f"p99.9 {values[int(n * 0.999)]:.3f}, max {values[-1]:.3f}; "
        f"mean candidate chance {chance:.1e}"
    )


def main() -> None:
    if DEV_SET.exists():
        rows = [json.loads(line) for line in DEV_SET.read_text("utf-8").splitlines() if line]
        texts = [shingles(f"{r['title']} {r['text']}") for r in rows]
        pairs = [jaccard(a, b) for a, b in itertools.combinations(texts, 2)]
        print(f"real excerpts (dev set), every pair: {summary(pairs)}")
    else:
        print(f"real excerpts: {DEV_SET} not found (it sits beside the project in development)")
    rng = random.Random(1)
    for shape in SHAPES:
        items = build(40, 50, base="http://bench.example", duplicates=0, syndicated=0, shape=shape)
        sets = [shingles(i.text) for i in items.items]
        sampled = (rng.sample(range(len(sets)), 2) for _ in range(20_000))
        same_language = [
            jaccard(sets[a], sets[b])
            for a, b in sampled
            if items.items[a].lang == items.items[b].lang
        ]
        print(f"bench corpus, {shape}, same-language pairs: {summary(same_language)}")


if __name__ == "__main__":
    main()
