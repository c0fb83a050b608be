"""The one error type users see, and the checks every boundary shares."""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable
from typing import Any


class GraphError(ValueError):
    """A mistake in building, feeding, differentiating, training or drawing a graph."""


def did_you_mean(key: Any, choices: Iterable[str]) -> str:
    """``"; did you mean a, b?"`` with the choices nearest to ``key``, or ``""``."""
    near = difflib.get_close_matches(str(key), list(choices), n=3)
    return f"; did you mean {', '.join(near)}?" if near else ""


def check_number(value: Any, what: str, low: float | None = None, high: float | None = None, *,
                 low_open: bool = False, high_open: bool = True) -> float:
    """``value`` as a finite float within the bounds, else a GraphError naming ``what``.

    ``low``/``high`` are included unless ``low_open``/``high_open``; booleans and
    strings are refused (``float("1")`` would accept a string silently).
    """
    if isinstance(value, (bool, str, bytes)) or not isinstance(value, numbers.Real):
        raise GraphError(f"{what} must be a number, got {value!r}")
    number = float(value)
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and (number >= high if high_open else number > high)
    if not math.isfinite(number) or too_low or too_high:
        bounds = []
        if low is not None:
            bounds.append(f"{'>' if low_open else '>='} {low:g}")
        if high is not None:
            bounds.append(f"{'<' if high_open else '<='} {high:g}")
        raise GraphError(f"{what} must be a finite number{' ' + ' and '.join(bounds) if bounds else ''}, "
                         f"got {value!r}")
    return number


def check_count(value: Any, what: str, least: int = 0) -> int:
    """``value`` as an int ``>= least`` (numpy integers welcome; bools, floats and strings refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        raise GraphError(f"{what} must be a whole number >= {least}, got {value!r}")
    return int(value)

