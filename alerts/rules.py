"""The rule language: categories of weighted terms, required groups, negatives, proximity.

A rule set is a plain mapping (what ``yaml.safe_load`` gives for the ``rules:`` key of
``config.yaml``); :func:`parse_rules` validates it into a frozen :class:`RuleSet` and raises
:class:`~alerts.errors.RulesError` whose ``path`` names the bad key, e.g.
``rules.categories.prison_break.threshold``. ``docs/rules.md`` documents the format;
``alerts/data/rules.yaml`` is the default rule set.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from alerts.errors import RulesError
from alerts.gazetteer import KINDS
from alerts.normalize import fold

__all__ = [
    "LANGUAGES",
    "Category",
    "Group",
    "Negative",
    "Proximity",
    "RuleSet",
    "Term",
    "load_rules",
    "parse_rules",
]

#: Term-list keys: a text's language, or ``any`` for terms that apply whatever it is.
LANGUAGES = ("fr", "ht", "en", "any")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
#: A prefix term shorter than this would match half the dictionary.
_MIN_PREFIX = 3
#: Cap on the spellings one term expands to through the variant table.
_MAX_VARIANTS = 32
_TOP_KEYS = frozenset({"version", "languages", "variants", "categories"})
_CATEGORY_KEYS = frozenset(
    {"description", "threshold", "proximity", "terms", "entities", "groups", "negatives"}
)
_SET_KEYS = frozenset({"weight", "description", *LANGUAGES})
_NEGATIVE_KEYS = frozenset({"veto", "weight", "compare_to", "description", *LANGUAGES})


# eq=False: terms are dictionary keys in the hot path; identity hashing is all they need.
@dataclass(frozen=True, slots=True, eq=False)
class Term:
    """A rule term: a word, a phrase, or a prefix (``évad*``)."""

    #: As written in the rules (shown in evidence).
    text: str
    #: The normalised spellings matched (the term and its variants), without ``*``.
    patterns: tuple[str, ...]
    prefix: bool
    weight: float
    #: Languages whose texts this term applies to (``any`` = all).
    languages: frozenset[str]
    #: The term set (or negative) it belongs to.
    set_name: str


@dataclass(frozen=True, slots=True)
class Group:
    """Terms or entities of which at least one must match; all groups must match together."""

    name: str
    term_sets: tuple[str, ...]
    gazetteer: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Negative:
    """Terms that veto a category or subtract from its score."""

    name: str
    terms: tuple[Term, ...]
    veto: bool
    #: Subtracted once per distinct term found (<= 0); 0 for a veto.
    weight: float
    #: For a veto: fire only when these terms are mentioned at least as often as this group.
    compare_to: str | None = None


@dataclass(frozen=True, slots=True)
class Proximity:
    """How close the groups' matches must be: within ``words`` words, or in one sentence."""

    words: int | None = None
    sentence: bool = False


@dataclass(frozen=True, slots=True)
class Category:
    """One kind of event to alert on."""

    name: str
    description: str
    threshold: float
    proximity: Proximity | None
    #: Scored terms, from every term set of the category.
    terms: tuple[Term, ...]
    term_sets: tuple[str, ...]
    #: Score added once per distinct gazetteer entity of a kind.
    entity_weights: Mapping[str, float]
    groups: tuple[Group, ...]
    negatives: tuple[Negative, ...]


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A validated rule set."""

    version: int
    categories: tuple[Category, ...]
    #: For a text in language X, the term languages that apply (``any`` always does).
    languages: Mapping[str, frozenset[str]]

    def active_languages(self, language: str | None) -> frozenset[str]:
        """The term languages to use for a text in ``language`` (unknown or ``None``: all)."""
        if language:
            code = language.strip().lower().replace("_", "-").split("-")[0]
            found = self.languages.get(code)
            if found is not None:
                return found | {"any"}
        return frozenset(LANGUAGES)


def load_rules(
    source: Mapping[str, Any] | str | Path | None = None, *, base_dir: Path | None = None
) -> RuleSet:
    """Load a rule set: ``None``/``"default"`` the packaged one, a path, or an inline mapping.

    A file may hold the rule set itself or a mapping with a single ``rules`` key.
    Relative paths are resolved against ``base_dir`` (default: the working directory).
    """
    if source is None or source == "default":
        text = resources.files("alerts.data").joinpath("rules.yaml").read_text("utf-8")
        return parse_rules(_yaml(text, "alerts/data/rules.yaml"))
    if isinstance(source, Mapping):
        return parse_rules(source)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        try:
            text = path.read_text("utf-8")
        except OSError as e:
            raise RulesError("rules", f"cannot read rules file {path}: {e}") from e
        return parse_rules(_yaml(text, str(path)))
    raise RulesError(
        "rules", f"expected 'default', a path or a mapping, not {type(source).__name__}"
    )


def _yaml(text: str, origin: str) -> Any:
    """Parse YAML text; unwrap a single top-level ``rules`` key."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise RulesError("rules", f"{origin} is not valid YAML: {e}") from e
    if isinstance(data, Mapping) and set(data) == {"rules"}:
        return data["rules"]
    return data


def parse_rules(data: Any, path: str = "rules") -> RuleSet:
    """Validate a rule-set mapping into a :class:`RuleSet` (raises :class:`RulesError`)."""
    top = _mapping(data, path)
    _no_unknown(top, _TOP_KEYS, path)
    version = top.get("version", 1)
    if version != 1 or isinstance(version, bool):
        raise RulesError(f"{path}.version", f"unsupported version {version!r} (this code reads 1)")
    languages = _languages(top.get("languages"), f"{path}.languages")
    variants = _variants(top.get("variants"), f"{path}.variants")
    raw_categories = _mapping(top.get("categories"), f"{path}.categories")
    if not raw_categories:
        raise RulesError(f"{path}.categories", "at least one category is needed")
    categories = tuple(
        _category(str(name), raw, variants, f"{path}.categories.{name}")
        for name, raw in raw_categories.items()
    )
    return RuleSet(version=1, categories=categories, languages=languages)


def _category(name: str, data: Any, variants: Mapping[str, tuple[str, ...]], path: str) -> Category:
    """Validate one category."""
    if not _NAME.match(name):
        raise RulesError(path, "a category name is lower-case letters, digits and '_'")
    raw = _mapping(data, path)
    _no_unknown(raw, _CATEGORY_KEYS, path)
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise RulesError(f"{path}.description", "must be a string")
    threshold = _number(raw.get("threshold"), f"{path}.threshold")
    if threshold <= 0:
        raise RulesError(f"{path}.threshold", "must be greater than 0")
    proximity = _proximity(raw.get("proximity"), f"{path}.proximity")

    raw_sets = _mapping(raw.get("terms"), f"{path}.terms")
    if not raw_sets:
        raise RulesError(f"{path}.terms", "at least one term set is needed")
    seen: dict[tuple[str, bool], str] = {}
    terms: list[Term] = []
    for set_name, set_data in raw_sets.items():
        set_path = f"{path}.terms.{set_name}"
        if not _NAME.match(str(set_name)):
            raise RulesError(set_path, "a term-set name is lower-case letters, digits and '_'")
        set_map = _mapping(set_data, set_path)
        _no_unknown(set_map, _SET_KEYS, set_path)
        weight = _number(set_map.get("weight", 1), f"{set_path}.weight")
        if weight < 0:
            raise RulesError(f"{set_path}.weight", "must be >= 0 (use 'negatives' to subtract)")
        terms.extend(
            _terms(set_map, str(set_name), weight, variants, seen, set_path, positive=True)
        )
    set_names = tuple(str(s) for s in raw_sets)

    entity_weights: dict[str, float] = {}
    for kind, value in _mapping(raw.get("entities", {}), f"{path}.entities").items():
        if kind not in KINDS:
            raise RulesError(
                f"{path}.entities.{kind}", f"unknown entity kind (one of {', '.join(KINDS)})"
            )
        entity_weights[str(kind)] = _number(value, f"{path}.entities.{kind}")

    groups = tuple(
        _group(str(g), gd, set_names, f"{path}.groups.{g}")
        for g, gd in _mapping(raw.get("groups", {}), f"{path}.groups").items()
    )
    group_names = {g.name for g in groups}
    negatives = tuple(
        _negative(str(n), nd, variants, group_names, seen, f"{path}.negatives.{n}")
        for n, nd in _mapping(raw.get("negatives", {}), f"{path}.negatives").items()
    )
    _check_coverage([*terms, *(t for n in negatives for t in n.terms)], path)
    return Category(
        name=name,
        description=description,
        threshold=threshold,
        proximity=proximity,
        terms=tuple(terms),
        term_sets=set_names,
        entity_weights=MappingProxyType(entity_weights),
        groups=groups,
        negatives=negatives,
    )


def _group(name: str, data: Any, set_names: tuple[str, ...], path: str) -> Group:
    """Validate one group against the category's term sets."""
    if not _NAME.match(name):
        raise RulesError(path, "a group name is lower-case letters, digits and '_'")
    raw = _mapping(data, path)
    _no_unknown(raw, frozenset({"terms", "gazetteer", "description"}), path)
    sets = _str_list(raw.get("terms", []), f"{path}.terms")
    for i, s in enumerate(sets):
        if s not in set_names:
            raise RulesError(f"{path}.terms[{i}]", f"no term set {s!r} in this category")
    kinds = _str_list(raw.get("gazetteer", []), f"{path}.gazetteer")
    for i, k in enumerate(kinds):
        if k not in KINDS:
            raise RulesError(
                f"{path}.gazetteer[{i}]", f"unknown entity kind {k!r} (one of {', '.join(KINDS)})"
            )
    if not sets and not kinds:
        raise RulesError(path, "a group needs 'terms' or 'gazetteer'")
    return Group(name=name, term_sets=tuple(sets), gazetteer=tuple(kinds))


def _negative(
    name: str,
    data: Any,
    variants: Mapping[str, tuple[str, ...]],
    group_names: set[str],
    seen: dict[tuple[str, bool], str],
    path: str,
) -> Negative:
    """Validate one negative (a veto or a subtracting term list)."""
    if not _NAME.match(name):
        raise RulesError(path, "a negative's name is lower-case letters, digits and '_'")
    raw = _mapping(data, path)
    _no_unknown(raw, _NEGATIVE_KEYS, path)
    veto = raw.get("veto", False)
    if not isinstance(veto, bool):
        raise RulesError(f"{path}.veto", "must be true or false")
    if veto:
        if "weight" in raw:
            raise RulesError(f"{path}.weight", "a veto has no weight")
        weight = 0.0
    else:
        if "weight" not in raw:
            raise RulesError(path, "a negative needs 'veto: true' or a negative 'weight'")
        weight = _number(raw["weight"], f"{path}.weight")
        if weight >= 0:
            raise RulesError(f"{path}.weight", "must be negative (it is subtracted)")
    compare_to = raw.get("compare_to")
    if compare_to is not None:
        if not veto:
            raise RulesError(f"{path}.compare_to", "only a veto compares with a group")
        if compare_to not in group_names:
            raise RulesError(f"{path}.compare_to", f"no group {compare_to!r} in this category")
    terms = _terms(raw, f"negatives.{name}", weight, variants, seen, path, positive=False)
    if not terms:
        raise RulesError(path, "a negative needs terms (fr, ht, en or any)")
    return Negative(name=name, terms=tuple(terms), veto=veto, weight=weight, compare_to=compare_to)


def _terms(
    raw: Mapping[str, Any],
    set_name: str,
    default_weight: float,
    variants: Mapping[str, tuple[str, ...]],
    seen: dict[tuple[str, bool], str],
    path: str,
    *,
    positive: bool,
) -> list[Term]:
    """The terms of one set or negative, merged across languages."""
    by_key: dict[tuple[str, bool], Term] = {}
    for language in LANGUAGES:
        if language not in raw:
            continue
        items = raw[language]
        lpath = f"{path}.{language}"
        if not isinstance(items, list):
            raise RulesError(lpath, "must be a list of terms")
        for i, item in enumerate(items):
            ipath = f"{lpath}[{i}]"
            text, weight = _term_item(item, default_weight, ipath, positive=positive)
            prefix = text.rstrip().endswith("*")
            base = text.rstrip()[:-1] if prefix else text
            if "*" in base:
                raise RulesError(ipath, "'*' is allowed only at the end of a term")
            pattern = fold(base)
            if not any(c.isalnum() for c in pattern):
                raise RulesError(ipath, f"term {text!r} has no letters or digits")
            if prefix and len(pattern.replace(" ", "")) < _MIN_PREFIX:
                raise RulesError(
                    ipath, f"prefix term {text!r} is too short (>= {_MIN_PREFIX} letters)"
                )
            key = (pattern, prefix)
            clash = seen.get((pattern, not prefix))
            if clash is not None:
                # "invasion" and "invasion*" would both fire on one word and count twice.
                raise RulesError(
                    ipath, f"term {text!r} overlaps the same word with/without '*' in {clash!r}"
                )
            existing = by_key.get(key)
            if existing is not None:
                if existing.weight != weight:
                    raise RulesError(ipath, f"term {text!r} appears with two weights in this set")
                by_key[key] = Term(
                    existing.text,
                    existing.patterns,
                    prefix,
                    weight,
                    existing.languages | {language},
                    set_name,
                )
                continue
            owner = seen.get(key)
            if owner is not None and owner != set_name:
                raise RulesError(ipath, f"term {text!r} is already in {owner!r} of this category")
            seen[key] = set_name
            by_key[key] = Term(
                text, _spellings(pattern, variants), prefix, weight, frozenset({language}), set_name
            )
    return list(by_key.values())


def _check_coverage(terms: list[Term], path: str) -> None:
    """Reject a term that a prefix term of the same set already matches word for word
    ("libéré*" and "libérer" would both fire on "libérer" and count twice). A longer phrase
    starting with a prefix term ("gang*" and "gang ak zam"), or a word in two sets ("jail*"
    and "jailbreak*"), is allowed: it adds on purpose."""
    prefixes = [t for t in terms if t.prefix]
    for term in terms:
        for p in prefixes:
            if p is term or p.set_name != term.set_name:
                continue
            base = p.patterns[0]
            own = term.patterns[0]
            if (
                own.startswith(base)
                and " " not in own[len(base) :]
                and (own != base or not term.prefix)
            ):
                raise RulesError(
                    path,
                    f"term {term.text!r} ({term.set_name}) is already matched "
                    f"by {p.text!r} ({p.set_name})",
                )


def _term_item(item: Any, default_weight: float, path: str, *, positive: bool) -> tuple[str, float]:
    """One list item: a term (set weight) or ``{term: weight}``."""
    if isinstance(item, str):
        if not item.strip():
            raise RulesError(path, "empty term")
        return item.strip(), default_weight
    if isinstance(item, Mapping) and len(item) == 1:
        ((text, weight),) = item.items()
        if not isinstance(text, str) or not text.strip():
            raise RulesError(path, "empty term")
        value = _number(weight, path)
        if positive and value < 0:
            raise RulesError(path, "a term weight must be >= 0 (use 'negatives' to subtract)")
        if not positive and value >= 0:
            raise RulesError(path, "a negative term's weight must be negative")
        return text.strip(), value
    raise RulesError(path, "a term is a string or a one-entry mapping {term: weight}")


def _spellings(pattern: str, variants: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The pattern and its variant spellings (word by word through the variant table)."""
    words = pattern.split(" ")
    options = [(w, *variants.get(w, ())) for w in words]
    out: list[str] = []
    for combo in itertools.islice(itertools.product(*options), _MAX_VARIANTS):
        spelled = " ".join(combo)
        if spelled not in out:
            out.append(spelled)
    return tuple(out)


def _languages(data: Any, path: str) -> Mapping[str, frozenset[str]]:
    """The ``languages`` table: text language -> term languages."""
    if data is None:
        return MappingProxyType({})
    raw = _mapping(data, path)
    out: dict[str, frozenset[str]] = {}
    for code, langs in raw.items():
        items = _str_list(langs, f"{path}.{code}")
        for i, lang in enumerate(items):
            if lang not in LANGUAGES:
                raise RulesError(
                    f"{path}.{code}[{i}]",
                    f"unknown term language {lang!r} (one of {', '.join(LANGUAGES)})",
                )
        out[str(code).lower()] = frozenset(items)
    return MappingProxyType(out)


def _variants(data: Any, path: str) -> Mapping[str, tuple[str, ...]]:
    """The ``variants`` table: normalised word -> other spellings."""
    if data is None:
        return MappingProxyType({})
    raw = _mapping(data, path)
    out: dict[str, tuple[str, ...]] = {}
    for word, spellings in raw.items():
        key = fold(str(word))
        if not key or " " in key:
            raise RulesError(f"{path}.{word}", "a variant key is one word")
        forms = _str_list(spellings, f"{path}.{word}")
        folded = tuple(fold(f) for f in forms)
        if not all(folded):
            raise RulesError(f"{path}.{word}", "empty variant")
        out[key] = tuple(dict.fromkeys(f for f in folded if f != key))
    return MappingProxyType(out)


def _proximity(data: Any, path: str) -> Proximity | None:
    """The ``proximity`` window, if any."""
    if data is None:
        return None
    raw = _mapping(data, path)
    _no_unknown(raw, frozenset({"words", "sentence"}), path)
    words = raw.get("words")
    if words is not None and (not isinstance(words, int) or isinstance(words, bool) or words < 1):
        raise RulesError(f"{path}.words", "must be a whole number of words >= 1")
    sentence = raw.get("sentence", False)
    if not isinstance(sentence, bool):
        raise RulesError(f"{path}.sentence", "must be true or false")
    if words is None and not sentence:
        raise RulesError(path, "give 'words', 'sentence: true', or both")
    return Proximity(words=words, sentence=sentence)


def _mapping(data: Any, path: str) -> Mapping[str, Any]:
    """``data`` as a mapping, or an error naming ``path``."""
    if not isinstance(data, Mapping):
        raise RulesError(path, f"must be a mapping, not {_type_name(data)}")
    return data


def _str_list(data: Any, path: str) -> list[str]:
    """``data`` as a list of strings (a lone string is a list of one)."""
    if isinstance(data, str):
        return [data]
    if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
        raise RulesError(path, "must be a list of strings")
    return list(data)


def _number(data: Any, path: str) -> float:
    """``data`` as a float (booleans are not numbers here)."""
    if isinstance(data, bool) or not isinstance(data, (int, float)):
        raise RulesError(path, f"must be a number, not {_type_name(data)}")
    return float(data)


def _no_unknown(raw: Mapping[str, Any], allowed: frozenset[str], path: str) -> None:
    """Reject keys outside ``allowed`` (typos would otherwise be ignored)."""
    for key in raw:
        if key not in allowed:
            raise RulesError(
                f"{path}.{key}", f"unknown key (expected one of {', '.join(sorted(allowed))})"
            )


def _type_name(data: Any) -> str:
    """A type name for error messages."""
    return "nothing" if data is None else type(data).__name__
