"""The ``graphnn`` command: ``graphnn demo [--out DIR]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def seed_network():
    """The book's forward pass on spiral data, as in the seed notebook.

    Returns ``(graph, feeds, probs, loss)``. Calls ``nnfs.init()``, as the book does.
    """
    import nnfs
    from nnfs.datasets import spiral_data

    import graphnn as gn

    nnfs.init()
    X, y = spiral_data(samples=100, classes=3)
    inputs, targets = gn.Input("X"), gn.Input("y")
    dense1, relu, dense2 = gn.Dense(2, 3), gn.ReLU(), gn.Dense(3, 3)
    softmax, loss_fn = gn.Softmax(), gn.CategoricalCrossEntropy()
    probs = softmax(dense2(relu(dense1(inputs))))
    loss = loss_fn(probs, targets)
    return gn.Graph([probs, loss]), {inputs: X, targets: y}, probs, loss


def demo(out: Path) -> int:
    graph, feeds, probs, loss = seed_network()
    values = graph.run(feeds)
    print(values[probs][:5])
    print(f"Loss: {values[loss]}")
    print()
    print(graph)
    out.mkdir(parents=True, exist_ok=True)
    path = graph.render(out / "forward.svg")
    print(f"\nwrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="graphnn", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_demo = commands.add_parser("demo", help="run the seed notebook's network and draw it")
    run_demo.add_argument("--out", type=Path, default=Path("."), help="folder for forward.svg")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo(args.out)
    return 2


if __name__ == "__main__":
    sys.exit(main())
