"""Job kinds: the name a handler is registered under."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1024)
def derive_kind(name: str) -> str:
    """Turn a class name into a snake_case kind.

    An underscore goes before an upper-case letter that follows a lower-case
    letter or digit, or that follows an upper-case letter and precedes a
    lower-case one: ``SMTPEmail`` -> ``smtp_email``, ``ProcessV2Import`` ->
    ``process_v2_import``.
    """
    out: list[str] = []
    for i, ch in enumerate(name):
        if ch.isupper() and i > 0:
            prev = name[i - 1]
            nxt = name[i + 1] if i + 1 < len(name) else ""
            if prev.islower() or prev.isdigit() or (prev.isupper() and nxt.islower()):
                out.append("_")
        out.append(ch.lower())
    return "".join(out)
