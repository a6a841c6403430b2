"""The one converter between job args objects and JSON.

Args may be a dataclass, an attrs class, a pydantic model or a plain dict.
Everything becomes a JSON object on the way in; on the way out a handler's
registered args type is rebuilt from that object.
"""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal
from typing import Any, TypeVar

import cattrs
from cattrs.preconf.json import make_converter

from awa.errors import ValidationError

T = TypeVar("T")

converter = make_converter()
converter.register_unstructure_hook(uuid.UUID, str)
converter.register_structure_hook(uuid.UUID, lambda v, _t: uuid.UUID(str(v)))
converter.register_unstructure_hook(Decimal, str)
converter.register_structure_hook(Decimal, lambda v, _t: Decimal(str(v)))


def _is_pydantic_model(cls: Any) -> bool:
    return isinstance(cls, type) and hasattr(cls, "model_validate") and hasattr(cls, "model_dump")


converter.register_unstructure_hook_func(
    _is_pydantic_model, lambda obj: obj.model_dump(mode="json")
)
converter.register_structure_hook_func(
    _is_pydantic_model, lambda data, cls: cls.model_validate(data)
)

# A NUL escape (``\u0000``) in JSON text that is not itself an escaped backslash.
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _dumps(plain: Any) -> str:
    return _ENCODER.encode(plain)


def _utf8_size(text: str, field: str) -> int:
    """The UTF-8 size of ``text``; lone surrogates (not valid Unicode) are refused."""
    try:
        return len(text.encode())
    except UnicodeEncodeError:
        raise ValidationError(
            f"{field}: not valid Unicode (a lone surrogate such as '\\ud800')", field=field
        ) from None


def encode_object(value: Any, *, field: str, max_bytes: int) -> tuple[dict[str, Any], str]:
    """Turn ``value`` into a JSON object and its compact JSON text.

    Dicts go straight to JSON when they can; anything else (and dicts holding
    dataclasses, datetimes, UUIDs...) goes through the converter first.

    Raises ``ValidationError`` for non-objects, values JSON can't hold (NaN,
    arbitrary objects), NUL characters and text over ``max_bytes``.
    """
    plain: Any = value
    text: str | None = None
    if isinstance(value, dict):
        try:
            text = _dumps(value)
        except (TypeError, ValueError):
            text = None
    if text is None:
        try:
            plain = converter.unstructure(value)
        except Exception as ex:  # cattrs raises a variety of errors
            raise ValidationError(
                f"{field}: cannot convert {type(value).__name__} to JSON: {ex}", field=field
            ) from None
        if not isinstance(plain, dict):
            raise ValidationError(
                f"{field}: must serialise to a JSON object, got {type(value).__name__}",
                field=field,
            )
        try:
            text = _dumps(plain)
        except (TypeError, ValueError) as ex:
            raise ValidationError(f"{field}: not JSON-serialisable: {ex}", field=field) from None
    if "\\u0000" in text and _NUL_ESCAPE.search(text):
        raise ValidationError(f"{field}: NUL characters are not allowed", field=field)
    size = _utf8_size(text, field)
    if size > max_bytes:
        raise ValidationError(
            f"{field}: {size} bytes of JSON exceeds the limit of {max_bytes}",
            field=field,
        )
    return plain, text


def encode_json(value: Any, *, field: str, max_bytes: int) -> str:
    """Any JSON value (a callback payload) as text; the same checks as objects."""
    try:
        text = _dumps(value)
    except (TypeError, ValueError):
        try:
            text = _dumps(converter.unstructure(value))
        except Exception as ex:
            raise ValidationError(f"{field}: not JSON-serialisable: {ex}", field=field) from None
    if "\\u0000" in text and _NUL_ESCAPE.search(text):
        raise ValidationError(f"{field}: NUL characters are not allowed", field=field)
    size = _utf8_size(text, field)
    if size > max_bytes:
        raise ValidationError(f"{field}: more than {max_bytes} bytes of JSON", field=field)
    return text


def canonical_json(plain: dict[str, Any]) -> str:
    """Sorted-key compact JSON with raw UTF-8: the bytes behind unique keys."""
    return json.dumps(plain, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def structure(data: Any, cls: type[T]) -> T:
    """Rebuild ``cls`` from decoded JSON data."""
    if cls is dict or cls is Any:
        return data  # type: ignore[no-any-return]
    try:
        return converter.structure(data, cls)
    except cattrs.BaseValidationError as ex:
        details = "; ".join(str(e) for e in cattrs.transform_error(ex))
        raise ValidationError(f"args do not fit {cls.__name__}: {details}", field="args") from None
    except Exception as ex:
        raise ValidationError(f"args do not fit {cls.__name__}: {ex}", field="args") from None
