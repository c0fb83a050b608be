"""Running Graphviz: DOT source in, SVG/PNG/PDF bytes out.

SVG and PNG come from ``graphviz-pure`` (a pip package: Graphviz 16.1 ported
to Rust, one self-contained program with its own fonts), so they need no system
Graphviz and are the same bytes on every machine. Its program is found through
the installed package's file list, not ``PATH``, so ``.venv/bin/python`` works
without activating the environment. PDF, which graphviz-pure does not write,
needs the system ``dot``; so do SVG and PNG when graphviz-pure is not installed.

>>> layout('digraph { a -> b }', "svg")[:5]
b'<?xml'
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess

from graphnn.core.errors import GraphError

PURE_FORMATS = ("svg", "png")  # what graphviz-pure writes (of the formats graphnn offers)
INSTALL_HINT = ("install graphviz-pure (pip install graphviz-pure) for .svg and .png, or the Graphviz 'dot' "
                "program (apt-get install graphviz, brew install graphviz, or https://graphviz.org/download/)")


def pure_program() -> str | None:
    """The ``graphviz-pure`` program installed with its pip package, or None."""
    try:
        dist = importlib.metadata.distribution("graphviz-pure")
    except importlib.metadata.PackageNotFoundError:
        return shutil.which("graphviz-pure")
    for f in dist.files or []:
        if f.name in ("graphviz-pure", "graphviz-pure.exe"):
            path = os.path.normpath(dist.locate_file(f))
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
    return shutil.which("graphviz-pure")


def system_dot() -> str | None:
    """The system Graphviz ``dot`` program on ``PATH``, or None."""
    return shutil.which("dot")


def program_for(fmt: str) -> str:
    """The program that lays out ``fmt``: graphviz-pure first (same bytes everywhere), else system dot."""
    found = (pure_program() if fmt in PURE_FORMATS else None) or system_dot()
    if found is None:
        if fmt in PURE_FORMATS:
            raise GraphError(f"writing .{fmt} needs graphviz-pure or Graphviz, neither is installed: "
                             f"{INSTALL_HINT}; or write .dot or .json instead")
        raise GraphError(f"writing .{fmt} needs the Graphviz 'dot' program, which is not installed "
                         f"(graphviz-pure writes .svg and .png, not .{fmt}): install it (apt-get install "
                         f"graphviz, brew install graphviz, or https://graphviz.org/download/), or write "
                         f".svg, .png, .dot or .json instead")
    return found


def layout(source: str, fmt: str) -> bytes:
    """``source`` (DOT text) laid out as ``fmt`` bytes (``svg``, ``png`` or ``pdf``)."""
    program = program_for(fmt)
    try:
        done = subprocess.run([program, f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True,
                              check=False)
    except OSError as error:
        raise GraphError(f"cannot run {program}: {error.strerror}") from None
    if done.returncode != 0 or not done.stdout:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GraphError(f"{os.path.basename(program)} failed (exit {done.returncode}): "
                         f"{message[0] if message else 'no output'}")
    return done.stdout
