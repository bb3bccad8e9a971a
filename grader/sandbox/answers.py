"""Reading what the sandbox child sends back: hostile data, decoded within bounds.

The child chooses every byte of an answer, so no answer may make the grading process
allocate without limit (a million empty lists cost 50 times their bytes), recurse
deeply, or build a number that a judge could turn into a huge allocation. Floats,
NaN and infinities (``1e999`` too) decode as floats: a judge that expects a float
compares them and fails them; one that expects a count rejects a float.
The largest honest answer (descent's SGD trajectory) is about 50 KB, nested 8 deep.
"""

from __future__ import annotations

import json
from typing import Any

MAX_BYTES = 8 << 20  # one answer line
MAX_VALUES = 1_000_000  # lists, objects and scalars in one answer
MAX_DEPTH = 32
MAX_LENGTH = 200_000  # items in one list or object, characters in one string
MAX_INT = 2**63  # larger integers are not counts or indices of anything a probe measures


class Rejected(ValueError):
    """An answer the grading process will not decode; the message says why."""


def decode(line: bytes) -> Any:
    """The JSON value of one answer line, or Rejected."""
    if len(line) > MAX_BYTES:
        raise Rejected(f"it is larger than {MAX_BYTES >> 20} MiB")
    # Every value after the first follows a comma or opens a container: an upper bound,
    # counted before anything is allocated.
    if line.count(b",") + line.count(b"[") + line.count(b"{") >= MAX_VALUES:
        raise Rejected(f"it holds more than {MAX_VALUES:,} values")
    try:
        value = json.loads(line, parse_int=_bounded_int)
    except Rejected:
        raise
    except RecursionError:
        raise Rejected(f"it is nested more than {MAX_DEPTH} deep") from None
    except ValueError:  # UnicodeDecodeError included
        raise Rejected("it is not valid JSON") from None
    _check_shape(value)
    return value


def _bounded_int(text: str) -> int:
    if len(text) > 20 or abs(number := int(text)) > MAX_INT:
        raise Rejected(f"it holds an integer beyond ±2**63 ({text[:20]}...)")
    return number


def _check_shape(value: Any) -> None:
    """Depth and lengths, walked without recursion."""
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if len(item) > MAX_LENGTH:
                raise Rejected(f"it holds a string longer than {MAX_LENGTH:,} characters")
            continue
        if not isinstance(item, (list, dict)):
            continue
        if depth >= MAX_DEPTH:
            raise Rejected(f"it is nested more than {MAX_DEPTH} deep")
        if len(item) > MAX_LENGTH:
            raise Rejected(f"it holds a list or object longer than {MAX_LENGTH:,} items")
        children = item.values() if isinstance(item, dict) else item
        pending.extend((child, depth + 1) for child in children)
        if isinstance(item, dict):
            pending.extend((key, depth + 1) for key in item)
