from __future__ import annotations

import pytest

from awa import JobState, ValidationError
from awa._model.states import DEFAULT_UNIQUE_STATES, mask_to_states, parse_state, states_to_mask


def test_default_mask_is_upstream_0b0001_1111() -> None:
    assert states_to_mask(DEFAULT_UNIQUE_STATES) == "11111000"
    assert states_to_mask(0b0001_1111) == "11111000"


def test_mask_round_trips_every_state() -> None:
    for state in JobState:
        assert mask_to_states(states_to_mask([state])) == {state}


def test_upstream_spelling_aliases_are_the_same_members() -> None:
    assert JobState.Completed is JobState.COMPLETED
    assert JobState.WaitingExternal.value == "waiting_external"
    assert len(list(JobState)) == 8


@pytest.mark.parametrize("bad", [[], 0, 256, True, ["nope"], [3.5]])
def test_bad_state_masks_are_rejected(bad: object) -> None:
    with pytest.raises(ValidationError):
        states_to_mask(bad)  # type: ignore[arg-type]


def test_parse_state_names_the_known_states() -> None:
    assert parse_state("failed") is JobState.FAILED
    with pytest.raises(ValidationError, match="waiting_external"):
        parse_state("done")
