"""JSON from untrusted bytes: every failure of the parser becomes the package's own error.

Python's parser raises ``ValueError`` for a 100,000-digit number (its
integer digit limit), ``RecursionError`` for deep nesting, and accepts
``NaN`` and ``Infinity``; what is parsed here is refused with one error
class instead, and its nesting is bounded so that code walking it
recursively cannot run out of stack.
"""

from __future__ import annotations

import json
import math

from . import limits
from .errors import BitstreamError


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is beyond the range of a float")
    return value


def loads(raw: bytes, what: str, *, allow_nan: bool = False, error=BitstreamError):
    """Parse ``raw`` (UTF-8 JSON); ``error(message)`` for anything malformed, too deep or non-finite."""
    try:
        text = raw.decode("utf-8")
        if allow_nan:
            value = json.loads(text)
        else:
            value = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except (UnicodeDecodeError, ValueError, RecursionError, MemoryError) as err:
        raise error(f"{what} is not valid JSON: {type(err).__name__}: {str(err)[:200]}") from None
    depth = nesting_depth(value)
    if depth > limits.MAX_JSON_DEPTH:
        raise error(f"{what} nests {depth} levels deep, more than limits.MAX_JSON_DEPTH = {limits.MAX_JSON_DEPTH}")
    return value


def nesting_depth(value) -> int:
    """Deepest nesting of lists and dicts in ``value`` (0 for a scalar), without recursion."""
    deepest, todo = 0, [(value, 0)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            depth += 1
            deepest = max(deepest, depth)
            if depth > limits.MAX_JSON_DEPTH:
                break
            todo.extend((v, depth) for v in item)
    return deepest
