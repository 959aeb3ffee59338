"""The gazetteer: Haitian places, prisons, gangs, people and institutions, with their aliases.

The packaged file is ``alerts/data/haiti.yaml``; its header names the sources. Each entity::

    - kind: place                 # place | prison | gang | person | institution
      name: Cité Soleil           # canonical name (also matched as an alias)
      type: commune               # free label: country, department, commune, neighbourhood...
      department: Ouest           # places and prisons
      coordinates: [18.58, -72.33]  # places and prisons: [lat, lon]
      aliases: [Site Solèy, Cite Soley, {text: Soley, case_sensitive: true}]
      weak: false                 # true: an ordinary word or a name shared abroad; counts
                                  # only when the text also names a non-weak entity
                                  # (the default for the entity's aliases; an alias may
                                  # say otherwise)
      gang: Viv Ansanm            # persons (and member gangs): the gang they belong to

An alias is a string or a mapping ``{text, case_sensitive, near, weak}``: ``case_sensitive``
compares the case of the text as written (accents still ignored); ``near`` lists words of
which one must stand within a few words of the alias (``{text: Taliban, near: [gang]}``);
``weak`` as for the entity, for this alias alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from alerts.errors import GazetteerError
from alerts.normalize import fold

__all__ = ["DEPARTMENTS", "KINDS", "Alias", "Entity", "Gazetteer"]

KINDS = ("place", "prison", "gang", "person", "institution")
DEPARTMENTS = (
    "Artibonite",
    "Centre",
    "Grand'Anse",
    "Nippes",
    "Nord",
    "Nord-Est",
    "Nord-Ouest",
    "Ouest",
    "Sud",
    "Sud-Est",
)
#: Generous bounds around Haiti (La Tortue to Anse-à-Pitres, Les Irois to the border):
#: a coordinate outside is a typo, most often a swapped sign.
_LAT = (17.8, 20.2)
_LON = (-74.6, -71.5)
_ENTITY_KEYS = frozenset(
    {"kind", "name", "type", "department", "coordinates", "aliases", "weak", "gang", "note"}
)
_ALIAS_KEYS = frozenset({"text", "case_sensitive", "near", "weak"})


@dataclass(frozen=True, slots=True)
class Alias:
    """One way an entity is written."""

    text: str
    #: The normalised form matched against the text.
    pattern: str
    case_sensitive: bool = False
    #: Normalised words of which one must stand near the alias for it to count.
    near: tuple[str, ...] = ()
    #: Counts only when the same text has a non-weak alias hit.
    weak: bool = False
    #: The alias normalised but with its case kept (for ``case_sensitive``).
    cased: str = ""
    #: A regex finding any ``near`` word in normalised text.
    near_re: re.Pattern[str] | None = None


@dataclass(frozen=True, slots=True)
class Entity:
    """A gazetteer entry."""

    kind: str
    name: str
    aliases: tuple[Alias, ...]
    type: str | None = None
    department: str | None = None
    coordinates: tuple[float, float] | None = None
    weak: bool = False
    gang: str | None = None


def _near_regex(words: tuple[str, ...]) -> re.Pattern[str]:
    """A regex finding any of ``words`` as whole words in normalised text."""
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


@dataclass(frozen=True, slots=True)
class Gazetteer:
    """A validated set of entities."""

    entities: tuple[Entity, ...]
    sources: tuple[str, ...] = ()

    @classmethod
    def load(cls, path: str | Path | None = None) -> Gazetteer:
        """Read a gazetteer file; ``None`` or ``"default"`` reads the packaged one."""
        if path is None or path == "default":
            origin = "alerts/data/haiti.yaml"
            try:
                text = resources.files("alerts.data").joinpath("haiti.yaml").read_text("utf-8")
            except OSError as e:  # pragma: no cover - a broken install
                raise GazetteerError(f"{origin}: cannot read the packaged gazetteer: {e}") from e
        else:
            origin = str(path)
            try:
                text = Path(path).read_text("utf-8")
            except OSError as e:
                raise GazetteerError(f"{origin}: cannot read: {e}") from e
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise GazetteerError(f"{origin}: not valid YAML: {e}") from e
        return cls.from_mapping(data, origin=origin)

    @classmethod
    def from_mapping(cls, data: Any, *, origin: str = "gazetteer") -> Gazetteer:
        """Validate an already-parsed gazetteer (``{sources: [...], entities: [...]}``)."""
        if not isinstance(data, Mapping):
            raise GazetteerError(f"{origin}: the top level must be a mapping with 'entities'")
        raw_entities = data.get("entities")
        if not isinstance(raw_entities, list) or not raw_entities:
            raise GazetteerError(f"{origin}: 'entities' must be a non-empty list")
        raw_sources = data.get("sources", [])
        if not isinstance(raw_sources, list) or not all(isinstance(s, str) for s in raw_sources):
            raise GazetteerError(f"{origin}: 'sources' must be a list of strings")
        entities = tuple(
            _entity(raw, f"{origin}: entities[{i}]") for i, raw in enumerate(raw_entities)
        )
        seen: set[tuple[str, str]] = set()
        for i, entity in enumerate(entities):
            key = (entity.kind, fold(entity.name))
            if key in seen:
                raise GazetteerError(
                    f"{origin}: entities[{i}] ({entity.name}): duplicate {entity.kind}"
                )
            seen.add(key)
        gangs = {fold(e.name) for e in entities if e.kind == "gang"}
        for i, entity in enumerate(entities):
            if entity.gang is not None and fold(entity.gang) not in gangs:
                raise GazetteerError(
                    f"{origin}: entities[{i}] ({entity.name}): "
                    f"gang {entity.gang!r} is not a gang entity"
                )
        return cls(entities=entities, sources=tuple(raw_sources))

    def patterns(self) -> Iterator[tuple[str, int, Alias]]:
        """``(pattern, entity index, alias)`` for every alias, for the matcher."""
        for index, entity in enumerate(self.entities):
            for alias in entity.aliases:
                yield alias.pattern, index, alias

    def resolve(self, text: str, kinds: tuple[str, ...] | None = None) -> Entity | None:
        """The entity ``text`` names, by canonical name or any alias (accent- and
        case-insensitive); canonical names win over aliases."""
        wanted = fold(text)
        candidates = [e for e in self.entities if kinds is None or e.kind in kinds]
        for entity in candidates:
            if fold(entity.name) == wanted:
                return entity
        for entity in candidates:
            if any(fold(a.text) == wanted for a in entity.aliases):
                return entity
        return None

    def find(self, name: str, kind: str | None = None) -> Entity | None:
        """The entity with this canonical name (accent- and case-insensitive), if any."""
        wanted = fold(name)
        for entity in self.entities:
            if fold(entity.name) == wanted and (kind is None or entity.kind == kind):
                return entity
        return None


def _entity(raw: Any, where: str) -> Entity:
    """Validate one entity mapping."""
    if not isinstance(raw, Mapping):
        raise GazetteerError(f"{where}: must be a mapping")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise GazetteerError(f"{where}: 'name' must be a non-empty string")
    where = f"{where} ({name})"
    unknown = set(raw) - _ENTITY_KEYS
    if unknown:
        raise GazetteerError(f"{where}: unknown keys {sorted(unknown)}")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise GazetteerError(f"{where}: 'kind' must be one of {', '.join(KINDS)}, not {kind!r}")
    etype = raw.get("type")
    if etype is not None and not isinstance(etype, str):
        raise GazetteerError(f"{where}: 'type' must be a string")
    weak = raw.get("weak", False)
    if not isinstance(weak, bool):
        raise GazetteerError(f"{where}: 'weak' must be true or false")
    gang = raw.get("gang")
    if gang is not None and not isinstance(gang, str):
        raise GazetteerError(f"{where}: 'gang' must be a gang's name")
    department, coordinates = _location(raw, kind, etype, where)
    raw_aliases = raw.get("aliases", [])
    if not isinstance(raw_aliases, list):
        raise GazetteerError(f"{where}: 'aliases' must be a list")
    # The name is an alias too; an explicit alias with the same normalised form overrides
    # it, which is how a name that is also an ordinary word is made case-sensitive.
    by_pattern: dict[str, Alias] = {}
    first = _alias(name, f"{where}: name", weak)
    by_pattern[first.pattern] = first
    for j, raw_alias in enumerate(raw_aliases):
        alias = _alias(raw_alias, f"{where}: aliases[{j}]", weak)
        by_pattern[alias.pattern] = alias
    aliases = list(by_pattern.values())
    return Entity(
        kind=kind,
        name=name,
        aliases=tuple(aliases),
        type=etype,
        department=department,
        coordinates=coordinates,
        weak=weak,
        gang=gang,
    )


def _location(
    raw: Mapping[str, Any], kind: str, etype: str | None, where: str
) -> tuple[str | None, tuple[float, float] | None]:
    """Department and coordinates, required for places and prisons."""
    department = raw.get("department")
    if department is not None and department not in DEPARTMENTS:
        raise GazetteerError(f"{where}: unknown department {department!r}")
    coords = raw.get("coordinates")
    coordinates: tuple[float, float] | None = None
    if coords is not None:
        if (
            not isinstance(coords, list)
            or len(coords) != 2
            or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in coords)
        ):
            raise GazetteerError(f"{where}: 'coordinates' must be [latitude, longitude]")
        lat, lon = float(coords[0]), float(coords[1])
        if not (_LAT[0] <= lat <= _LAT[1] and _LON[0] <= lon <= _LON[1]):
            raise GazetteerError(f"{where}: coordinates {coords} are outside Haiti")
        coordinates = (lat, lon)
    if kind in ("place", "prison"):
        if coordinates is None:
            raise GazetteerError(f"{where}: a {kind} needs 'coordinates'")
        if department is None and etype != "country":
            raise GazetteerError(f"{where}: a {kind} needs 'department'")
    return department, coordinates


def _alias(raw: Any, where: str, entity_weak: bool) -> Alias:
    """Validate one alias (a string or a mapping)."""
    weak = entity_weak
    text: Any
    if isinstance(raw, str):
        text, case_sensitive, near_raw = raw, False, []
    elif isinstance(raw, Mapping):
        unknown = set(raw) - _ALIAS_KEYS
        if unknown:
            raise GazetteerError(f"{where}: unknown alias keys {sorted(unknown)}")
        text = raw.get("text")
        case_sensitive = raw.get("case_sensitive", False)
        near_raw = raw.get("near", [])
        weak = raw.get("weak", entity_weak)
        if not isinstance(case_sensitive, bool) or not isinstance(weak, bool):
            raise GazetteerError(f"{where}: 'case_sensitive' and 'weak' must be true or false")
        if not isinstance(near_raw, list) or not all(
            isinstance(w, str) and w.strip() for w in near_raw
        ):
            raise GazetteerError(f"{where}: 'near' must be a list of words")
    else:
        raise GazetteerError(f"{where}: an alias is a string or a mapping with 'text'")
    if not isinstance(text, str) or not text.strip():
        raise GazetteerError(f"{where}: an alias needs non-empty 'text'")
    pattern = fold(text)
    if not any(c.isalnum() for c in pattern):
        raise GazetteerError(f"{where}: alias {text!r} has no letters or digits")
    near = tuple(sorted({fold(w) for w in near_raw}))
    return Alias(
        text=text,
        pattern=pattern,
        case_sensitive=case_sensitive,
        near=near,
        near_re=_near_regex(near) if near else None,
        weak=weak,
        cased=fold(text, fold_case=False),
    )
