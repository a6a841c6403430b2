from __future__ import annotations

import pytest

from awa import ValidationError
from awa._model.placeholders import check_placeholders


@pytest.mark.parametrize(
    ("sql", "n"),
    [
        ("SELECT $1, $2", 2),
        ("SELECT 1", 0),
        ("SELECT '$3' , $1", 1),
        ("SELECT $$ $9 $$, $1", 1),
        ("SELECT $tag$ $9 $tag$, $1", 1),
        ("SELECT 1 -- $4\n, $1", 1),
        ("SELECT /* $4 */ $1", 1),
        ('SELECT "$4", $1', 1),
        ("SELECT '100%' || $1", 1),
        ("SELECT $1, $1", 1),
    ],
)
def test_matching_placeholders_pass(sql: str, n: int) -> None:
    check_placeholders(sql, n)


@pytest.mark.parametrize(
    ("sql", "n", "match"),
    [
        ("SELECT $1, $2", 1, r"\$2"),
        ("SELECT $1", 2, r"\$2 not used"),
        ("SELECT $2", 2, r"\$1 not used"),
        ("SELECT %s", 1, "placeholders"),
        ("SELECT %(x)s", 1, "placeholders"),
        ("", 0, "empty"),
        ("SELECT 1\x00", 0, "NUL"),
    ],
)
def test_mismatches_are_rejected_before_sending(sql: str, n: int, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        check_placeholders(sql, n)
