"""The soak (tests/chaos/soak.py), only when ``AWA_SOAK_MINUTES`` is set:

AWA_SOAK_MINUTES=10 .venv/bin/python -m pytest tests/chaos/test_soak.py -s
"""

from __future__ import annotations

import os

import pytest

from tests.chaos import soak

MINUTES = os.environ.get("AWA_SOAK_MINUTES")

pytestmark = [
    pytest.mark.chaos,
    pytest.mark.benchmark,
    pytest.mark.skipif(not MINUTES, reason="set AWA_SOAK_MINUTES to run the soak"),
    pytest.mark.timeout(3600),
]


def test_soak_loses_and_duplicates_nothing() -> None:
    rate = os.environ.get("AWA_SOAK_RATE", "100")
    assert soak.main(["--minutes", str(MINUTES), "--rate", rate]) == 0
