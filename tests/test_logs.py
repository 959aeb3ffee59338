from __future__ import annotations

import json
import logging

import pytest

from veye.logs import JsonFormatter, RedactingFilter, redact


@pytest.mark.parametrize(("line", "leak"), [
    ("fetching https://veye:hunter22@feeds.example/x", "hunter22"),
    ("smtp login password=hunter22 failed", "hunter22"),
    ('{"secret": "whsec_abcdef"}', "whsec_abcdef"),
    ("Authorization: Bearer eyJhbGciOi.abc.def", "eyJhbGciOi.abc.def"),
    ("token=abcd1234&x=1", "abcd1234"),
])
def test_secrets_are_redacted(line: str, leak: str) -> None:
    out = redact(line)
    assert leak not in out
    assert "***" in out


def test_literal_secrets_are_redacted_anywhere() -> None:
    assert redact("the server said: bad key s3cr3t-value!", ("s3cr3t-value",)) == \
        "the server said: bad key ***!"


def test_ordinary_text_is_untouched() -> None:
    line = "alterpresse: ok, 3 new, 1 flagged (https://www.alterpresse.org/spip.php?page=backend)"
    assert redact(line) == line


def test_json_lines_carry_no_secret() -> None:
    record = logging.LogRecord("veye", logging.WARNING, __file__, 1,
                               "webhook %s refused: %s", ("ops", "secret=abc123"), None)
    RedactingFilter(("abc123",)).filter(record)
    out = json.loads(JsonFormatter().format(record))
    assert out["level"] == "warning" and out["logger"] == "veye"
    assert "abc123" not in out["message"] and out["message"].startswith("webhook ops refused")
