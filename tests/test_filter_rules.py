"""Rule-set loading and validation: every error names the bad key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts.classify import Filter
from alerts.errors import RulesError
from alerts.rules import load_rules, parse_rules


def _rules() -> dict[str, Any]:
    """A small valid rule set; tests break one key at a time."""
    return {
        "version": 1,
        "languages": {"en": ["en"], "fr": ["fr", "ht"]},
        "variants": {"prizon": ["prizonn"]},
        "categories": {
            "prison_break": {
                "threshold": 3,
                "proximity": {"words": 10, "sentence": True},
                "terms": {
                    "escape": {"weight": 2, "fr": ["évad*"], "en": ["escape*"], "ht": ["sove"]},
                    "prison": {"fr": ["prison*"], "ht": ["prizon"], "any": [{"jail": 1.5}]},
                },
                "entities": {"prison": 2},
                "groups": {
                    "event": {"terms": ["escape"]},
                    "anchor": {"gazetteer": ["place", "prison"]},
                },
                "negatives": {
                    "tech": {"veto": True, "en": ["iphone"]},
                    "fiction": {"weight": -2, "en": ["netflix"]},
                    "elsewhere": {"veto": True, "compare_to": "anchor", "any": ["Ecuador"]},
                },
            }
        },
    }


def _broken(path: str, value: Any) -> dict[str, Any]:
    rules = copy.deepcopy(_rules())
    *parents, last = path.split(".")
    node: Any = rules
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return rules


_DELETE = object()
_PB = "categories.prison_break"


def test_a_valid_rule_set_parses() -> None:
    rules = parse_rules(_rules())
    (category,) = rules.categories
    assert category.name == "prison_break"
    assert category.threshold == 3
    assert {t.text for t in category.terms} == {
        "évad*",
        "escape*",
        "sove",
        "prison*",
        "prizon",
        "jail",
    }
    prizon = next(t for t in category.terms if t.text == "prizon")
    assert prizon.patterns == ("prizon", "prizonn")  # through the variant table
    jail = next(t for t in category.terms if t.text == "jail")
    assert jail.weight == 1.5
    assert jail.languages == frozenset({"any"})
    assert rules.active_languages("en") == frozenset({"en", "any"})
    assert rules.active_languages("fr-HT") == frozenset({"fr", "ht", "any"})
    assert rules.active_languages(None) == frozenset({"fr", "ht", "en", "any"})
    assert rules.active_languages("mfe") == frozenset({"fr", "ht", "en", "any"})


@pytest.mark.parametrize(
    ("path", "value", "error_path", "message"),
    [
        (f"{_PB}.threshold", "high", f"rules.{_PB}.threshold", "must be a number"),
        (f"{_PB}.threshold", 0, f"rules.{_PB}.threshold", "greater than 0"),
        (f"{_PB}.threshold", _DELETE, f"rules.{_PB}.threshold", "must be a number"),
        (f"{_PB}.colour", "red", f"rules.{_PB}.colour", "unknown key"),
        ("version", 2, "rules.version", "unsupported version"),
        ("categories", {}, "rules.categories", "at least one category"),
        ("categories", [], "rules.categories", "must be a mapping"),
        ("languages.en", ["klingon"], "rules.languages.en[0]", "unknown term language"),
        (f"{_PB}.proximity.words", 0, f"rules.{_PB}.proximity.words", ">= 1"),
        (f"{_PB}.proximity", {}, f"rules.{_PB}.proximity", "give 'words'"),
        (f"{_PB}.terms.escape.weight", -1, f"rules.{_PB}.terms.escape.weight", ">= 0"),
        (f"{_PB}.terms.escape.fr", "évad*", f"rules.{_PB}.terms.escape.fr", "list of terms"),
        (f"{_PB}.terms.escape.fr", ["é*vad"], f"rules.{_PB}.terms.escape.fr[0]", "only at the end"),
        (f"{_PB}.terms.escape.fr", ["év*"], f"rules.{_PB}.terms.escape.fr[0]", "too short"),
        (f"{_PB}.terms.escape.fr", ["--"], f"rules.{_PB}.terms.escape.fr[0]", "no letters"),
        (
            f"{_PB}.terms.escape.fr",
            [{"a": 1, "b": 2}],
            f"rules.{_PB}.terms.escape.fr[0]",
            "one-entry",
        ),
        # The second set to name a word is the one reported.
        (f"{_PB}.terms.escape.fr", ["prison*"], f"rules.{_PB}.terms.prison.fr[0]", "already in"),
        (f"{_PB}.terms.escape.fr", ["prison"], f"rules.{_PB}.terms.prison.fr[0]", "with/without"),
        (f"{_PB}.terms.escape.klingon", ["x"], f"rules.{_PB}.terms.escape.klingon", "unknown key"),
        (
            f"{_PB}.groups.event.terms",
            ["nope"],
            f"rules.{_PB}.groups.event.terms[0]",
            "no term set",
        ),
        (
            f"{_PB}.groups.anchor.gazetteer",
            ["city"],
            f"rules.{_PB}.groups.anchor.gazetteer[0]",
            "unknown entity kind",
        ),
        (f"{_PB}.groups.event", {}, f"rules.{_PB}.groups.event", "needs 'terms' or 'gazetteer'"),
        (f"{_PB}.entities", {"city": 1}, f"rules.{_PB}.entities.city", "unknown entity kind"),
        (f"{_PB}.negatives.fiction.weight", 2, f"rules.{_PB}.negatives.fiction.weight", "negative"),
        (f"{_PB}.negatives.fiction.weight", _DELETE, f"rules.{_PB}.negatives.fiction", "veto"),
        (f"{_PB}.negatives.tech.veto", "yes", f"rules.{_PB}.negatives.tech.veto", "true or false"),
        (
            f"{_PB}.negatives.elsewhere.compare_to",
            "nowhere",
            f"rules.{_PB}.negatives.elsewhere.compare_to",
            "no group",
        ),
        (f"{_PB}.negatives.tech.en", [], f"rules.{_PB}.negatives.tech", "needs terms"),
    ],
)
def test_errors_name_the_bad_key(path: str, value: Any, error_path: str, message: str) -> None:
    with pytest.raises(RulesError, match=message) as info:
        parse_rules(_broken(path, value))
    assert info.value.path == error_path
    assert str(info.value).startswith(error_path)


def test_a_prefix_may_not_cover_another_term_of_its_set() -> None:
    rules = _broken(f"{_PB}.terms.escape.fr", ["évad*", "évadés"])
    with pytest.raises(RulesError, match="already matched by 'évad\\*'") as info:
        parse_rules(rules)
    assert info.value.path == f"rules.{_PB}"


def test_load_from_a_path_relative_to_base_dir_with_or_without_a_rules_key(tmp_path: Path) -> None:
    (tmp_path / "plain.yaml").write_text(yaml.safe_dump(_rules(), allow_unicode=True), "utf-8")
    (tmp_path / "wrapped.yaml").write_text(
        yaml.safe_dump({"rules": _rules()}, allow_unicode=True), "utf-8"
    )
    for name in ("plain.yaml", "wrapped.yaml"):
        rules = load_rules(name, base_dir=tmp_path)
        assert [c.name for c in rules.categories] == ["prison_break"]


def test_default_and_inline_rule_sets() -> None:
    default = load_rules("default")
    assert {c.name for c in default.categories} >= {"prison_break", "gang_attack"}
    again = load_rules(None)
    assert [(c.name, c.threshold, len(c.terms)) for c in again.categories] == [
        (c.name, c.threshold, len(c.terms)) for c in default.categories
    ]
    inline = Filter.load(_rules())
    assert [c.name for c in inline.rules.categories] == ["prison_break"]


def test_file_errors_are_rules_errors_with_their_cause(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read rules file") as missing:
        load_rules("missing.yaml", base_dir=tmp_path)
    assert missing.value.path == "rules"
    assert isinstance(missing.value.__cause__, OSError)
    (tmp_path / "bad.yaml").write_text("categories: [unclosed", "utf-8")
    with pytest.raises(RulesError, match="not valid YAML") as bad:
        load_rules("bad.yaml", base_dir=tmp_path)
    assert isinstance(bad.value.__cause__, yaml.YAMLError)
