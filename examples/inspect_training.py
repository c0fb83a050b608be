"""What the spiral network looks like after 0, 100 and 10,000 epochs of training.

The book's chapter 10 setup (spiral_data(100, 3), Dense(2, 64), ReLU,
Dense(64, 3), Softmax + categorical cross-entropy, Adam(learning_rate=0.05,
decay=5e-7)) trains with the book's gradients. At each snapshot a second
graph, with a gradient node for every forward node (gn.gradients), runs on
the same data and is drawn: every node shows its value's statistics and its
gradient's norm, with health marks (dead ReLUs, saturated softmax outputs,
clip bounds hit) in orange; the same findings are printed as text.

    python examples/inspect_training.py [--out DIR] [--epochs 0,100,10000] [--format svg]

writes DIR/spiral_epoch0.svg, DIR/spiral_epoch100.svg, DIR/spiral_epoch10000.svg.
"""
import argparse
from pathlib import Path

import nnfs
import numpy as np
from nnfs.datasets import spiral_data

import graphnn as gn


def main(argv=None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("spiral_training"))
    parser.add_argument("--epochs", default="0,100,10000", help="epochs to draw, comma separated")
    parser.add_argument("--format", default="svg", choices=["svg", "png", "pdf", "dot", "json"])
    args = parser.parse_args(argv)
    snapshots = sorted({int(e) for e in args.epochs.split(",")})

    nnfs.init()
    X, y = spiral_data(samples=100, classes=3)
    inputs, targets = gn.Input("X"), gn.Input("y")
    dense1, relu, dense2 = gn.Dense(2, 64), gn.ReLU(), gn.Dense(64, 3)
    probs = gn.Softmax()(dense2(relu(dense1(inputs))))
    loss = gn.CategoricalCrossEntropy()(probs, targets)
    feeds = {inputs: X, targets: y}

    params = gn.Graph([loss]).params
    grads = gn.grad(loss, params)                      # the book's gradients, to train with
    step = gn.Graph([loss, probs, *grads])
    optimizer = gn.Adam(learning_rate=0.05, decay=5e-7)

    every = gn.gradients(loss)                         # a gradient for every forward node, to look at
    look = gn.Graph([probs, loss, *(every[p] for p in params)])
    print(look.summary())

    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    for epoch in range(snapshots[-1] + 1):
        if epoch in snapshots:
            values = look.run(feeds)
            accuracy = float(np.mean(np.argmax(values[probs], axis=1) == y))
            title = f"epoch {epoch}: loss {float(values[loss]):.3f}, accuracy {accuracy:.3f}"
            print(f"\n{title}")
            for finding in gn.diagnose(look, values, every):
                print(f"  {finding}")
            path = look.render(args.out / f"spiral_epoch{epoch}.{args.format}", values=values,
                               grads=every, backward=False, title=title, legend=True)
            written.append(Path(path))
            print(f"  wrote {path}")
        if epoch < snapshots[-1]:
            values = step.run(feeds, keep="fetched")
            optimizer.step(params, [values[g] for g in grads])
    return written


if __name__ == "__main__":
    main()
