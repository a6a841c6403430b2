"""Decoding jsonb on awa's own connections.

Most jobs carry an empty ``metadata`` object and an empty ``errors`` list:
those come back without a trip through the JSON parser. Each call returns a
new object, so a caller may change what it got.
"""

from __future__ import annotations

import json
from typing import Any

from psycopg.abc import AdaptContext
from psycopg.types.json import set_json_loads


def loads(data: bytes | str) -> Any:
    if data == b"{}":
        return {}
    if data == b"[]":
        return []
    return json.loads(data)


def use_fast_loads(context: AdaptContext) -> None:
    """Decode json and jsonb with ``loads`` on this connection only."""
    set_json_loads(loads, context)
