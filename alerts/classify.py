"""The filter: classify a news item against the rules and the gazetteer.

::

    f = Filter.load()                      # packaged rules and gazetteer
    verdict = f.classify(title, text, "fr")
    print(f.explain(title, text, "fr"))    # why (or why not)

One pass of one Aho-Corasick automaton finds every rule term, gazetteer alias and number
word in the normalised text; the rest works on that list of hits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from alerts.figures import KindWord, NumberWord, extract_figures
from alerts.figures import patterns as figure_patterns
from alerts.gazetteer import Alias, Entity, Gazetteer
from alerts.matcher import Hit, Matcher
from alerts.normalize import Normalized, fold, normalize
from alerts.rules import Category, Negative, RuleSet, Term, load_rules
from alerts.verdict import EntityHit, Evidence, Verdict

__all__ = ["Filter", "document"]

#: How far (characters) either side of an alias its ``near`` words may stand.
_NEAR_CHARS = 60


def document(title: str, text: str) -> str:
    """The string every offset in a :class:`Verdict` indexes into."""
    return f"{title}\n\n{text}"


@dataclass(frozen=True, slots=True)
class _TermRef:
    """Matcher payload: a rule term of a category (``negative`` >= 0: of that negative)."""

    category: int
    term: Term
    negative: int = -1


@dataclass(frozen=True, slots=True)
class _AliasRef:
    """Matcher payload: a gazetteer alias."""

    entity: int
    alias: Alias


_Payload = _TermRef | _AliasRef | NumberWord | KindWord


class _Position(NamedTuple):
    """Where a match stands: its word number and sentence number in the text."""

    word: int
    sentence: int


#: A group that matched where positions were not needed (another group was missing).
_UNPLACED = _Position(-1, -1)


@dataclass(slots=True)
class _CategoryResult:
    """Everything decided about one category for one text (feeds the verdict and explain)."""

    category: Category
    score: float = 0.0
    fired: bool = False
    reason: str = ""
    evidence: list[Evidence] = field(default_factory=list)
    #: Each group's first match (``None``: missing).
    groups: dict[str, _Position | None] = field(default_factory=dict)
    proximity: str = ""
    vetoes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Analysis:
    """A verdict and the per-category detail behind it (for explain)."""

    verdict: Verdict
    results: tuple[_CategoryResult, ...]
    languages: frozenset[str]


class Filter:
    """Rules plus gazetteer, compiled into one automaton; immutable and reusable."""

    def __init__(self, rules: RuleSet, gazetteer: Gazetteer) -> None:
        self.rules = rules
        self.gazetteer = gazetteer
        self._matcher: Matcher[_Payload] = Matcher(self._patterns())

    @classmethod
    def load(
        cls,
        rules: Mapping[str, Any] | str | None = None,
        gazetteer: str | Path | None = None,
        *,
        base_dir: Path | None = None,
    ) -> Filter:
        """Build a filter.

        ``rules``: ``None``/``"default"`` for the packaged ``alerts/data/rules.yaml``, a path
        (relative to ``base_dir``), or the rule set inline. ``gazetteer``: ``None``/
        ``"default"`` for the packaged ``alerts/data/haiti.yaml``, else a path.
        """
        rule_set = load_rules(rules, base_dir=base_dir)
        if gazetteer is None or gazetteer == "default":
            gaz = Gazetteer.load(None)
        else:
            path = Path(gazetteer)
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            gaz = Gazetteer.load(path)
        return cls(rule_set, gaz)

    def classify(self, title: str, text: str, language: str | None = None) -> Verdict:
        """Alert or not, with evidence; offsets index into ``title + "\\n\\n" + text``."""
        return self._analyse(title, text, language).verdict

    def explain(self, title: str, text: str, language: str | None = None) -> str:
        """A human-readable account of the verdict: what matched, what was missing."""
        analysis = self._analyse(title, text, language)
        return _render(analysis, document(title, text))

    # -- building -------------------------------------------------------------------------

    def _patterns(self) -> list[tuple[str, bool, _Payload]]:
        """Every pattern for the automaton: rule terms (and variants), aliases, figure words."""
        patterns: list[tuple[str, bool, _Payload]] = []
        for ci, category in enumerate(self.rules.categories):
            refs = [_TermRef(ci, t) for t in category.terms]
            for ni, negative in enumerate(category.negatives):
                refs.extend(_TermRef(ci, t, ni) for t in negative.terms)
            # A variant spelling never shadows a term written out in the rules.
            taken = {(r.term.patterns[0], r.term.prefix) for r in refs}
            for ref in refs:
                patterns.append((ref.term.patterns[0], ref.term.prefix, ref))
                for spelling in ref.term.patterns[1:]:
                    if (spelling, ref.term.prefix) not in taken:
                        taken.add((spelling, ref.term.prefix))
                        patterns.append((spelling, ref.term.prefix, ref))
        for pattern, index, alias in self.gazetteer.patterns():
            patterns.append((pattern, False, _AliasRef(index, alias)))
        patterns.extend(figure_patterns())
        return patterns

    # -- classifying ----------------------------------------------------------------------

    def _analyse(self, title: str, text: str, language: str | None) -> _Analysis:
        """Match once, then judge each category; the verdict plus the detail explain needs."""
        norm = normalize(document(title, text))
        languages = self.rules.active_languages(language)
        categories = self.rules.categories
        per_category: list[list[Hit[_TermRef]]] = [[] for _ in categories]
        aliases: list[Hit[_AliasRef]] = []
        numbers: list[Hit[NumberWord | KindWord]] = []
        for hit in self._matcher.find(norm.text):
            payload = hit.payload
            if isinstance(payload, _TermRef):
                if not payload.term.languages.isdisjoint(languages):
                    per_category[payload.category].append(hit)  # type: ignore[arg-type]
            elif isinstance(payload, _AliasRef):
                aliases.append(hit)  # type: ignore[arg-type]
            else:
                numbers.append(hit)  # type: ignore[arg-type]

        entity_hits = self._entities(norm, aliases)
        ctx = _Context(norm, entity_hits, self.gazetteer.entities, per_category)
        results = tuple(
            _judge(category, per_category[ci], ctx) for ci, category in enumerate(categories)
        )
        fired = tuple(r.category.name for r in results if r.fired)
        scores = [r.score for r in results if r.fired] or [r.score for r in results]
        # Figures are read only where a category's groups all matched: they describe events.
        wanted = any(r.groups and all(o is not None for o in r.groups.values()) for r in results)
        verdict = Verdict(
            alert=bool(fired),
            categories=fired,
            score=round(max(scores, default=0.0), 3),
            entities=self._entity_hits(ctx, entity_hits),
            evidence=tuple(e for r in results for e in r.evidence),
            figures=extract_figures(norm, numbers) if wanted else (),
            notes=tuple(
                f"{r.category.name}: {r.reason}" for r in results if not r.fired and r.reason
            ),
        )
        return _Analysis(verdict, results, languages)

    def _entities(self, norm: Normalized, hits: list[Hit[_AliasRef]]) -> list[Hit[_AliasRef]]:
        """Alias hits that count: case and ``near`` checked, nested same-kind hits and
        uncorroborated weak entities dropped."""
        entities = self.gazetteer.entities
        kept: list[Hit[_AliasRef]] = []
        for hit in hits:
            alias = hit.payload.alias
            if alias.case_sensitive and not _same_case(norm, hit, alias):
                continue
            near = alias.near_re
            if near is not None:
                around = norm.text[max(0, hit.start - _NEAR_CHARS) : hit.end + _NEAR_CHARS]
                if not near.search(around):
                    continue
            kept.append(hit)
        # "Bas Delmas" is not also "Delmas": drop a hit inside a longer one of the same kind.
        kept.sort(key=lambda h: (h.start, -h.end))
        outer: list[Hit[_AliasRef]] = []
        reach: dict[str, tuple[int, int]] = {}  # kind -> span of the longest hit so far
        for hit in kept:
            kind = entities[hit.payload.entity].kind
            span = reach.get(kind)
            if span is not None and hit.end <= span[1] and (hit.start, hit.end) != span:
                continue
            if span is None or hit.end > span[1]:
                reach[kind] = (hit.start, hit.end)
            outer.append(hit)
        if all(h.payload.alias.weak for h in outer):
            return []
        return outer

    def _entity_hits(self, ctx: _Context, hits: list[Hit[_AliasRef]]) -> tuple[EntityHit, ...]:
        """The first mention of each entity, in text order."""
        first: dict[int, Hit[_AliasRef]] = {}
        for hit in hits:
            first.setdefault(hit.payload.entity, hit)
        out = []
        for index, hit in sorted(first.items(), key=lambda kv: kv[1].start):
            entity = self.gazetteer.entities[index]
            start, end, surface = ctx.span(hit)
            out.append(
                EntityHit(
                    kind=entity.kind,
                    name=entity.name,
                    surface=surface,
                    start=start,
                    end=end,
                    department=entity.department,
                    coordinates=entity.coordinates,
                )
            )
        return tuple(out)


class _Context:
    """What every category's judgement shares for one text: offsets, positions, entities."""

    def __init__(
        self,
        norm: Normalized,
        entity_hits: list[Hit[_AliasRef]],
        entities: tuple[Entity, ...],
        term_hits: list[list[Hit[_TermRef]]],
    ) -> None:
        self.norm = norm
        self.entity_hits = entity_hits
        self.entities = entities
        self._term_hits = term_hits
        self._spans: dict[tuple[int, int], tuple[int, int, str]] = {}
        self._positions: dict[int, _Position] | None = None
        self.kinds = {entities[h.payload.entity].kind for h in entity_hits}

    def span(self, hit: Hit[Any]) -> tuple[int, int, str]:
        """Original start, end and text of a hit (cached: evidence repeats spans)."""
        key = (hit.start, hit.end)
        found = self._spans.get(key)
        if found is None:
            start, end = self.norm.to_original(hit.start, hit.end)
            found = (start, end, self.norm.original[start:end])
            self._spans[key] = found
        return found

    def positions(self) -> dict[int, _Position]:
        """Word and sentence numbers of every hit start (counted once, on demand)."""
        if self._positions is None:
            starts = [h.start for hits in self._term_hits for h in hits]
            starts.extend(h.start for h in self.entity_hits)
            self._positions = _positions(self.norm.text, starts)
        return self._positions


def _positions(text: str, starts: Sequence[int]) -> dict[int, _Position]:
    """Word and sentence numbers of each start. Words are counted by the separators before
    them (a paragraph break counts as one more word); sentences end at a line break or at
    ``. ``, ``! ``, ``? ``."""
    out: dict[int, _Position] = {}
    words = sentences = prev = 0
    count = text.count
    for start in sorted(set(starts)):
        # str.count runs in C; a regex pass over the whole text costs more than these.
        breaks = count("\n", prev, start)
        words += count(" ", prev, start) + breaks
        sentences += breaks + count(". ", prev, start) + count("! ", prev, start)
        sentences += count("? ", prev, start)
        out[start] = _Position(words, sentences)
        prev = start
    return out


def _judge(category: Category, term_hits: list[Hit[_TermRef]], ctx: _Context) -> _CategoryResult:
    """Score one category, check its groups, proximity and negatives."""
    result = _CategoryResult(category)
    name = category.name
    positive: dict[Term, list[Hit[_TermRef]]] = {}
    negative: dict[int, dict[Term, list[Hit[_TermRef]]]] = {}
    for hit in term_hits:
        ref = hit.payload
        if ref.negative < 0:
            positive.setdefault(ref.term, []).append(hit)
        else:
            negative.setdefault(ref.negative, {}).setdefault(ref.term, []).append(hit)

    score = 0.0
    for term, hits in positive.items():
        score += term.weight
        result.evidence.append(_evidence(name, term.text, ctx, hits[0], term.weight))
    entities = ctx.entities
    counted: set[int] = set()
    for alias_hit in ctx.entity_hits:
        index = alias_hit.payload.entity
        entity = entities[index]
        weight = category.entity_weights.get(entity.kind)
        if weight is None or index in counted:
            continue
        counted.add(index)
        score += weight
        label = f"{entity.kind}:{entity.name}"
        result.evidence.append(_evidence(name, label, ctx, alias_hit, weight))

    present_sets = {t.set_name for t in positive}
    missing = [
        g.name
        for g in category.groups
        if present_sets.isdisjoint(g.term_sets) and ctx.kinds.isdisjoint(g.gazetteer)
    ]
    groups: dict[str, list[_Position]] = {}
    if not missing:
        groups = {
            g.name: _group_occurrences(g.term_sets, g.gazetteer, positive, ctx)
            for g in category.groups
        }
    for ni, found in negative.items():
        neg = category.negatives[ni]
        for term, hits in found.items():
            result.evidence.append(_evidence(name, term.text, ctx, hits[0], neg.weight))
            if not neg.veto:
                score += neg.weight
        if neg.veto and _vetoes(neg, found, category, positive, ctx):
            first = min((h for hs in found.values() for h in hs), key=lambda h: h.start)
            result.vetoes.append(f"{neg.name} ({ctx.span(first)[2]!r})")
    result.score = round(score, 3)

    for group in category.groups:
        occ = groups.get(group.name)
        if occ:
            result.groups[group.name] = occ[0]
        else:
            result.groups[group.name] = None if group.name in missing else _UNPLACED
    near_enough = False
    if not missing:
        near_enough, result.proximity = _proximity(category, groups)
    if result.vetoes:
        result.reason = f"vetoed by {', '.join(result.vetoes)}"
    elif missing:
        if result.evidence:
            result.reason = f"group {', '.join(repr(g) for g in missing)} not matched"
    elif not near_enough:
        result.reason = f"groups matched but not {result.proximity}"
    elif result.score < category.threshold:
        result.reason = f"score {result.score:g} below threshold {category.threshold:g}"
    else:
        result.fired = True
    return result


def _group_occurrences(
    term_sets: tuple[str, ...],
    kinds: tuple[str, ...],
    positive: Mapping[Term, list[Hit[_TermRef]]],
    ctx: _Context,
) -> list[_Position]:
    """Positions of a group's matches, in text order."""
    where = ctx.positions()
    starts = [
        h.start for term, hits in positive.items() if term.set_name in term_sets for h in hits
    ]
    entities = ctx.entities
    starts.extend(h.start for h in ctx.entity_hits if entities[h.payload.entity].kind in kinds)
    starts.sort()
    return [where[s] for s in starts]


def _vetoes(
    negative: Negative,
    found: Mapping[Term, list[Hit[_TermRef]]],
    category: Category,
    positive: Mapping[Term, list[Hit[_TermRef]]],
    ctx: _Context,
) -> bool:
    """A veto fires outright, or (``compare_to``) when its terms are mentioned at least as
    often as the group's matches: "Ecuador" twice against "Haïti" once."""
    if negative.compare_to is None:
        return True
    group = next(g for g in category.groups if g.name == negative.compare_to)
    mentions = sum(len(hits) for hits in found.values())
    entities = ctx.entities
    anchors = sum(len(hits) for t, hits in positive.items() if t.set_name in group.term_sets)
    anchors += sum(1 for h in ctx.entity_hits if entities[h.payload.entity].kind in group.gazetteer)
    return mentions >= anchors


def _proximity(category: Category, groups: Mapping[str, list[_Position]]) -> tuple[bool, str]:
    """Whether one match of every group stands within the window; and how it was judged."""
    prox = category.proximity
    if prox is None or len(groups) < 2:
        return True, "in the same text"
    if prox.sentence:
        common = set.intersection(*({o.sentence for o in occ} for occ in groups.values()))
        if common:
            return True, "in one sentence"
    if prox.words is not None and _min_span(groups) <= prox.words:
        return True, f"within {prox.words} words"
    described = [f"within {prox.words} words"] if prox.words is not None else []
    if prox.sentence:
        described.append("in one sentence")
    return False, " or ".join(described)


def _min_span(groups: Mapping[str, list[_Position]]) -> int:
    """The fewest words spanning one occurrence of every group (sliding window)."""
    points = sorted((o.word, g) for g, occ in groups.items() for o in occ)
    need = len(groups)
    counts: Counter[str] = Counter()
    best = 1 << 30
    lo = 0
    for word, group in points:
        counts[group] += 1
        while len(counts) == need:
            lo_word, lo_group = points[lo]
            best = min(best, word - lo_word)
            counts[lo_group] -= 1
            if not counts[lo_group]:
                del counts[lo_group]
            lo += 1
    return best


def _same_case(norm: Normalized, hit: Hit[_AliasRef], alias: Alias) -> bool:
    """Whether a case-sensitive alias is written with its case."""
    written = norm.original_slice(hit.start, hit.end)
    # Most mentions are spelt exactly like the alias: skip folding them.
    return written == alias.text or fold(written, fold_case=False) == alias.cased


def _evidence(category: str, term: str, ctx: _Context, hit: Hit[Any], weight: float) -> Evidence:
    """An :class:`Evidence` for a hit, with original offsets."""
    start, end, surface = ctx.span(hit)
    return Evidence(
        category=category, term=term, surface=surface, start=start, end=end, weight=weight
    )


def _render(analysis: _Analysis, doc: str) -> str:
    """The text of :meth:`Filter.explain`."""
    verdict = analysis.verdict
    lines = [
        ("ALERT: " + ", ".join(verdict.categories)) if verdict.alert else "no alert",
        f"term languages: {', '.join(sorted(analysis.languages))}",
    ]
    for r in analysis.results:
        c = r.category
        state = "FIRED" if r.fired else "not fired"
        lines.append(f"\n[{c.name}] {state}: score {r.score:g} (threshold {c.threshold:g})")
        if r.reason:
            lines.append(f"  why not: {r.reason}")
        for e in r.evidence:
            sign = "+" if e.weight >= 0 else ""
            lines.append(f"  {sign}{e.weight:g}\t{e.term!r} as {e.surface!r} at {e.start}-{e.end}")
        for gname, occ in r.groups.items():
            if occ is None:
                lines.append(f"  group {gname}: missing")
            elif occ is _UNPLACED:
                lines.append(f"  group {gname}: yes")
            else:
                lines.append(f"  group {gname}: yes (word {occ.word}, sentence {occ.sentence})")
        if r.groups and r.proximity:
            lines.append(f"  proximity: {r.proximity}")
        for v in r.vetoes:
            lines.append(f"  veto: {v}")
    if verdict.entities:
        lines.append("\nentities:")
        for h in verdict.entities:
            where = f", {h.department}" if h.department else ""
            lines.append(f"  {h.kind}: {h.name}{where} (as {doc[h.start : h.end]!r} at {h.start})")
    if verdict.figures:
        lines.append("\nfigures:")
        for f in verdict.figures:
            lines.append(
                f"  {f.kind}: {'at least ' if f.at_least else ''}{f.value} ({f.surface!r})"
            )
    return "\n".join(lines)
