"""Summary statistics of arrays, and how numbers are written for people."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphnn.core.node import format_shape


def fmt(x: float) -> str:
    """A number in 4 significant digits: ``fmt(0.000123456) == '0.0001235'``."""
    if isinstance(x, float) and math.isnan(x):
        return "nan"
    text = f"{x:.4g}"
    return "0" if text == "-0" else text


@dataclass(frozen=True)
class Stats:
    """Summary statistics of one array (``min``/``max``/``mean``/``std`` over its finite entries).

    >>> s = stats(np.array([[0.0, 1.0], [2.0, np.nan]]))
    >>> s.min, s.max, s.zeros, s.nans
    (0.0, 2.0, 0.25, 1)
    """

    shape: tuple
    dtype: str
    size: int
    min: float
    max: float
    mean: float
    std: float
    zeros: float  # fraction of entries equal to 0
    nans: int
    infs: int
    norm: float  # Euclidean norm of the finite entries

    @property
    def finite(self) -> bool:
        return self.nans == 0 and self.infs == 0

    def line(self) -> str:
        """``min -0.02 mean 0.001 max 0.02``."""
        return f"min {fmt(self.min)} mean {fmt(self.mean)} max {fmt(self.max)}"

    def text(self) -> str:
        """Every statistic, one per line (the SVG tooltip)."""
        rows = [f"shape {format_shape(self.shape)} {self.dtype}, {self.size} values",
                f"min {fmt(self.min)}", f"max {fmt(self.max)}", f"mean {fmt(self.mean)}",
                f"std {fmt(self.std)}", f"norm {fmt(self.norm)}", f"zeros {percent(self.zeros)}"]
        if not self.finite:
            rows.append(f"NaN {self.nans}, Inf {self.infs}")
        return "\n".join(rows)


def percent(fraction: float) -> str:
    """``percent(0.3333) == '33.3%'``; tiny non-zero fractions stay visible (``'<0.1%'``)."""
    if 0 < fraction < 0.001:
        return "<0.1%"
    return f"{fraction * 100:.3g}%"


def stats(value: Any) -> Stats:
    """The :class:`Stats` of ``value`` (an array or a number), computed in float64."""
    a = np.asarray(value)
    shape, dtype, size = tuple(a.shape), str(a.dtype), int(a.size)
    if a.dtype.kind not in "biuf":
        nan = float("nan")
        return Stats(shape, dtype, size, nan, nan, nan, nan, 0.0, 0, 0, nan)
    x = a.astype(np.float64).ravel()
    nans, infs = int(np.isnan(x).sum()), int(np.isinf(x).sum())
    finite = x[np.isfinite(x)] if nans or infs else x
    zeros = float(np.count_nonzero(x == 0) / size) if size else 0.0
    if finite.size == 0:
        nan = float("nan")
        return Stats(shape, dtype, size, nan, nan, nan, nan, zeros, nans, infs, nan)
    return Stats(shape, dtype, size, float(finite.min()), float(finite.max()), float(finite.mean()),
                 float(finite.std()), zeros, nans, infs, float(np.sqrt(np.dot(finite, finite))))


def preview(value: Any, width: int = 60) -> str:
    """A few of the numbers, as numpy prints them (``[[0.3333 0.3333 ...] ...]``)."""
    text = np.array2string(np.asarray(value), threshold=8, edgeitems=2, precision=4,
                           max_line_width=width)
    lines = text.splitlines()
    return "\n".join(lines[:8] + (["..."] if len(lines) > 8 else []))


def has_nonfinite(value: Any) -> bool:
    a = np.asarray(value)
    return a.dtype.kind in "fc" and not np.isfinite(a).all()
