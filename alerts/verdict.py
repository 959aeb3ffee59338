"""The filter's answer for one item: whether to alert, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class EntityHit:
    """A gazetteer entity found in the text."""

    #: ``place``, ``prison``, ``gang``, ``person`` or ``institution``.
    kind: str
    #: The entity's canonical name, e.g. ``Mirebalais``.
    name: str
    #: The alias as written in the text.
    surface: str
    #: Character offsets of the first mention in the classified text.
    start: int
    end: int
    #: Department for places and prisons (e.g. ``Centre``), else ``None``.
    department: str | None = None
    #: ``(latitude, longitude)`` for places and prisons, else ``None``.
    coordinates: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class Evidence:
    """A rule term that fired, with where it stands in the classified text."""

    category: str
    #: The rule term (or group name) that matched.
    term: str
    #: The text as written.
    surface: str
    start: int
    end: int
    #: What the match contributed: its weight (negative for a subtracting term, 0 for a
    #: vetoing one; ``term`` is then the negative's term and ``notes`` names the veto).
    #: A gazetteer entity adding to a score has ``term`` = ``"kind:Name"``.
    weight: float


@dataclass(frozen=True, slots=True)
class Figure:
    """A number stated in the text, e.g. 500 inmates freed."""

    #: ``freed``, ``killed``, ``kidnapped`` or ``injured``.
    kind: str
    value: int
    #: True where the text says "more than", "at least", "plus de", ...
    at_least: bool
    surface: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Verdict:
    """Alert or not, the categories that fired, and the evidence for them.

    Every offset (``start``/``end`` of :class:`EntityHit`, :class:`Evidence` and
    :class:`Figure`) indexes into the classified string ``title + "\n\n" + text``
    (see :func:`alerts.classify.document`), so ``doc[e.start:e.end] == e.surface``.
    ``score`` is the highest score among the categories that fired, or among all
    categories when none did.
    """

    alert: bool
    categories: tuple[str, ...] = ()
    score: float = 0.0
    entities: tuple[EntityHit, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    figures: tuple[Figure, ...] = ()
    #: Why a category did not fire where it nearly did (veto, missing group, low score).
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (the ``veye classify`` output shape): what
        :func:`dataclasses.asdict` gives, built directly because it runs for every stored item
        and ``asdict``'s generic deep copy costs more than the filter itself."""
        return {
            "alert": self.alert,
            "categories": list(self.categories),
            "score": self.score,
            "entities": [_flat(e) for e in self.entities],
            "evidence": [_flat(e) for e in self.evidence],
            "figures": [_flat(f) for f in self.figures],
            "notes": list(self.notes),
        }


def _flat(record: EntityHit | Evidence | Figure) -> dict[str, Any]:
    out = {name: getattr(record, name) for name in record.__dataclass_fields__}
    coordinates = out.get("coordinates")
    if coordinates is not None:
        out["coordinates"] = list(coordinates)
    return out
