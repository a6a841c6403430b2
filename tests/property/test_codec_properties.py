"""Properties of the pure model: JSON round trips and unique-key stability."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from awa._model.codec import encode_object
from awa._model.unique import unique_key

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8).filter(lambda k: "\x00" not in k), inner, max_size=4)
    ),
    max_leaves=20,
)
json_objects = st.dictionaries(
    st.text(max_size=8).filter(lambda k: "\x00" not in k), json_values, max_size=6
)


@given(json_objects)
def test_encoded_text_decodes_to_the_same_object(value: dict[str, Any]) -> None:
    plain, text = encode_object(value, field="args", max_bytes=1 << 20)
    assert json.loads(text) == value == plain


@given(json_objects, st.randoms())
def test_unique_key_ignores_key_order(value: dict[str, Any], rng: Any) -> None:
    items = list(value.items())
    rng.shuffle(items)
    assert unique_key("k", None, value, None) == unique_key("k", None, dict(items), None)


@given(st.text(min_size=1, max_size=20), json_objects, st.integers(-(2**63), 2**63 - 1))
def test_unique_key_is_always_16_bytes(kind: str, args: dict[str, Any], bucket: int) -> None:
    assert len(unique_key(kind, "q", args, bucket)) == 16
