"""The documented CEL policy of resolve_callback (awa._model.callbacks)."""

from __future__ import annotations

import pytest

from awa import ValidationError
from awa._model.callbacks import Decision, check_expression, decide

PAYLOAD = {"status": "paid", "amount": 120, "items": [1, 2, 3]}


def run(**rules: object) -> Decision:
    payload = rules.pop("payload", PAYLOAD)
    default_action = str(rules.pop("default_action", "ignore"))
    base: dict[str, str | None] = {
        "filter": None,
        "on_fail": None,
        "on_complete": None,
        "transform": None,
    }
    base.update({name: str(source) for name, source in rules.items()})
    return decide(**base, payload=payload, default_action=default_action)


def test_default_actions() -> None:
    assert run(default_action="complete").outcome == "completed"
    assert run(default_action="ignore").outcome == "ignored"
    assert run(default_action="fail").outcome == "failed"


def test_filter_pass_fail_and_error_fail_closed() -> None:
    assert run(filter='payload.status == "paid"', default_action="complete").outcome == "completed"
    assert run(filter='payload.status == "void"', default_action="complete").outcome == "ignored"
    broken = run(filter="payload.nope.deeper == 1", default_action="complete")
    assert (broken.outcome, broken.reason) == ("ignored", "filter error")
    assert broken.errors


def test_on_fail_wins_over_on_complete() -> None:
    both = run(on_fail="payload.amount > 100", on_complete="payload.amount > 100")
    assert (both.outcome, both.expression) == ("failed", "payload.amount > 100")


def test_errors_count_as_false() -> None:
    result = run(on_fail="payload.missing > 1", on_complete='payload.status == "paid"')
    assert result.outcome == "completed"
    assert result.errors
    assert result.errors[0].startswith("on_fail:")


def test_transform_and_its_failure() -> None:
    done = run(on_complete="true", transform='{"total": payload.amount, "n": size(payload.items)}')
    assert done.payload == {"total": 120, "n": 3}
    kept = run(on_complete="true", transform="payload.missing")
    assert kept.payload == PAYLOAD
    assert kept.errors


def test_macros_may_bind_their_own_variables() -> None:
    assert check_expression("payload.items.all(x, x > 0)", "filter")
    assert (
        run(filter="payload.items.exists(i, i == 2)", default_action="complete").outcome
        == "completed"
    )


@pytest.mark.parametrize("bad", ["payload ==", "job.id == 1", "", "x" * 5000, 3])
def test_bad_expressions_are_refused_at_registration(bad: object) -> None:
    with pytest.raises(ValidationError):
        check_expression(bad, "filter")
