"""What a diagram can be asked for, checked once where the keywords come in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np

from graphnn.core.errors import GraphError, did_you_mean
from graphnn.seeing.health import Thresholds

RANKDIRS = ("TB", "LR", "BT", "RL")
MAX_DPI = 1200


@dataclass(frozen=True)
class Options:
    """Everything a diagram can be asked for; ``render``/``to_dot`` take these as keywords.

    values:     a run's values (``graph.run(...)``): shapes, statistics and health on each node.
                Nodes without a value in a partial run are greyed out.
    grads:      forward node -> gradient node (as :func:`graphnn.gradients` gives) or array:
                the gradient's norm on each forward node.
    depth:      collapse every scope ``depth`` levels down into one box per layer.
    backward:   draw gradient nodes (default True); False shows the forward pass only.
    legend:     add a legend of colours and shapes.
    order:      number the ops in execution order (``#1 matmul``).
    health:     mark NaN/Inf, dead ReLUs, saturation, clip hits, gradient norms (with values).
    thresholds: a :class:`graphnn.Thresholds` for those marks.
    rankdir:    layout direction, ``"TB"`` (top to bottom) or ``"LR"``, ``"BT"``, ``"RL"``.
    title:      a caption above the diagram.
    dpi:        resolution of PNG output, 1 to 1200 (default 96).
    """

    values: Mapping | None = None
    grads: Mapping | None = None
    depth: int | None = None
    backward: bool = True
    legend: bool = False
    order: bool = False
    health: bool = True
    thresholds: Thresholds | None = None
    rankdir: str = "TB"
    title: str | None = None
    dpi: int | None = None


def parse_options(options: dict) -> Options:
    """:class:`Options` from keywords; an unknown or bad one is an error naming the choices."""
    names = [f.name for f in fields(Options)]
    for key in options:
        if key not in names:
            raise GraphError(f"unknown render option {key!r}{did_you_mean(key, names)}; "
                             f"the options are {', '.join(names)}")
    opts = Options(**options)
    if opts.depth is not None and (not _whole(opts.depth) or opts.depth < 1):
        raise GraphError(f"render option depth must be a whole number >= 1, got {opts.depth!r}")
    if opts.dpi is not None and (not _whole(opts.dpi) or not 1 <= opts.dpi <= MAX_DPI):
        raise GraphError(f"render option dpi must be a whole number from 1 to {MAX_DPI}, got {opts.dpi!r}")
    if not isinstance(opts.rankdir, str) or opts.rankdir not in RANKDIRS:
        raise GraphError(f"render option rankdir must be one of {', '.join(RANKDIRS)}, got {opts.rankdir!r}")
    for key in ("backward", "legend", "order", "health"):
        if not isinstance(getattr(opts, key), bool):
            raise GraphError(f"render option {key} must be True or False, got {getattr(opts, key)!r}")
    if opts.title is not None and not isinstance(opts.title, str):
        raise GraphError(f"render option title must be a string, got {type(opts.title).__name__}")
    if opts.thresholds is not None and not isinstance(opts.thresholds, Thresholds):
        raise GraphError(f"render option thresholds must be a gn.Thresholds(...), "
                         f"got {type(opts.thresholds).__name__}")
    for key in ("values", "grads"):
        if getattr(opts, key) is not None and not isinstance(getattr(opts, key), Mapping):
            raise GraphError(f"render option {key} must be a mapping (the result of graph.run), "
                             f"got {type(getattr(opts, key)).__name__}")
    return opts


def _whole(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)
