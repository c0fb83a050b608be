"""Where the Model's lines go: plain prints, or above a tqdm progress bar in a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable


def printer(verbose: bool, total: int, out: Callable[[str], None]):
    """``say(line)`` (with ``say.tick()`` after each of ``total`` steps) and ``close()``."""
    bar = None
    if verbose and total > 1 and is_terminal():
        from tqdm import tqdm
        bar = tqdm(total=total, leave=False, dynamic_ncols=True, file=sys.stdout)

    def say(line: str) -> None:
        if not verbose:
            return
        if bar is not None:
            bar.write(line)
        else:
            out(line)

    say.tick = (lambda: bar.update(1)) if bar is not None else (lambda: None)
    return say, (bar.close if bar is not None else (lambda: None))


def is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stdout
        return False
