"""The ``graphnn`` command.

``graphnn demo [--out DIR]`` runs the seed notebook's network and draws it;
``graphnn render OUT [--values] [--backward] [--depth N] [--legend] [--order]``
draws the demo network (or a saved model, ``--model PATH``) to ``OUT``, in the
format its suffix names (.svg, .png, .pdf, .dot, .gv, .json);
``graphnn explore OUT.html [--model PATH] [--epochs N] [--record-every K]``
trains the chapter 10 spiral network (or loads a saved model), recording its
tensors, and writes the interactive explorer page.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def seed_network():
    """The book's forward pass on spiral data, as in the seed notebook.

    Returns ``(graph, feeds, probs, loss)``. Calls ``nnfs.init()``, as the book does.
    """
    import graphnn as gn

    X, y = spiral_feeds()
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
    make_folder(out)
    path = graph.render(out / "forward.svg")
    print(f"\nwrote {path}")
    import graphnn as gn

    grads = gn.gradients(loss)
    train = gn.Graph([probs, loss, *grads.values()])
    page = train.explore(out / "explore.html", values=train.run(feeds), grads=grads,
                         title="graphnn demo: the seed network, forward and backward")
    print(f"wrote {page.path} (open it in a browser: every node's values, gradients and health)")
    return 0


def explore_command(args: argparse.Namespace) -> int:
    """Train the chapter 10 network (or load a model), recording, and write the explorer page."""
    import graphnn as gn
    from graphnn.seeing.explore import check_path

    check_path(args.out)
    if (args.epochs is not None and args.epochs < 0) or args.record_every < 1:
        raise gn.GraphError("--epochs must be >= 0 and --record-every >= 1")
    if args.model is not None:
        model = _load_model(args.model)
        X, y = spiral_feeds()
        X = X.astype(model.input.dtype or X.dtype)
    else:
        X, y = spiral_feeds()
        model = gn.Model()
        for layer in (gn.Dense(2, 64), gn.ReLU(), gn.Dense(64, 3), gn.Softmax()):
            model.add(layer)
        model.set(loss=gn.CategoricalCrossEntropy(), optimizer=gn.Adam(learning_rate=0.05, decay=5e-7),
                  accuracy=gn.CategoricalAccuracy())
        model.finalize()
    epochs = args.epochs if args.epochs is not None else (0 if args.model else 1000)
    recorder = gn.Recorder(every=args.record_every)
    history = model.train(X, y, epochs=epochs, record=recorder, verbose=False)
    if not recorder.frames or recorder.frames[-1].step != model.optimizer.iterations:
        feeds = {model.input: X, model.target: y}  # the final parameters, as the last step
        recorder.record_model(model, feeds, model.graph.run(feeds))
    page = model.graph.explore(args.out, history=recorder,
                               title=f"graphnn explore: {args.model or 'chapter 10 spiral network'}, "
                                     f"{epochs} epochs")
    if history["accuracy"]:
        print(f"trained {epochs} epochs: acc {history['accuracy'][-1]:.3f}, loss {history['loss'][-1]:.3f}")
    print(f"wrote {page.path} ({len(recorder.frames)} recorded steps)")
    return 0


def spiral_feeds() -> tuple:
    """The seed notebook's data: ``spiral_data(samples=100, classes=3)`` after ``nnfs.init()``."""
    import nnfs
    from nnfs.datasets import spiral_data

    nnfs.init()
    return spiral_data(samples=100, classes=3)


def diagram_inputs(backward: bool, model: Path | None = None):
    """``(graph, feeds, grads)`` to draw: the demo network, or a saved model on spiral data.

    ``grads`` maps forward nodes to their gradient nodes (None without ``backward``).
    """
    import graphnn as gn

    if model is not None:
        return _saved_model(model)
    graph, feeds, probs, loss = seed_network()
    if not backward:
        return graph, feeds, None
    grads = gn.gradients(loss)
    train = gn.Graph([probs, loss, *(grads[p] for p in graph.params)])
    return train, feeds, grads


def _load_model(path: Path):
    """``Model.load(path)``; any damage to the file is a GraphError naming it."""
    import graphnn as gn

    try:
        return gn.Model.load(path)
    except gn.GraphError:
        raise
    except Exception as error:  # a tampered file can fail deep inside a layer's constructor
        raise gn.GraphError(f"{path}: not a loadable graphnn model ({type(error).__name__}: {error})") from None


def _saved_model(path: Path):
    """A model written by ``Model.save``: its training graph, fed the spiral data."""
    model = _load_model(path)
    X, y = spiral_feeds()
    feeds = {model.input: X.astype(model.input.dtype or X.dtype), model.target: y}
    return model.graph, feeds, dict(zip(model.params, model.grads))


def render_command(args: argparse.Namespace) -> int:
    options = {"depth": args.depth, "legend": args.legend, "order": args.order,
               "rankdir": args.rankdir, "title": args.title, "backward": args.backward}
    graph, feeds, grads = diagram_inputs(args.backward, args.model)
    if args.values:
        options.update(values=graph.run(feeds), grads=grads)
    make_folder(args.out.parent)
    path = graph.render(args.out, **options)
    print(f"wrote {path}")
    return 0


def make_folder(folder: Path) -> None:
    """Create ``folder`` (and its parents) if missing; a failure is a GraphError naming it."""
    from graphnn.core.errors import GraphError

    if folder.exists() and not folder.is_dir():
        raise GraphError(f"cannot create the folder {folder}: a file of that name is in the way")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise GraphError(f"cannot create the folder {folder}: {error.strerror or error}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="graphnn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run_demo = commands.add_parser("demo", help="run the seed notebook's network and draw it")
    run_demo.add_argument("--out", type=Path, default=Path("."), help="folder for forward.svg")
    draw = commands.add_parser("render", help="draw the demo network (or a saved model) to a file")
    draw.add_argument("out", type=Path, help="file to write: .svg, .png, .pdf, .dot, .gv or .json")
    draw.add_argument("--model", type=Path,
                      help="a model saved with Model.save, to draw instead of the demo network")
    draw.add_argument("--values", action="store_true",
                      help="run on the spiral data; show statistics and health on each node")
    draw.add_argument("--backward", action="store_true", help="add the gradient (backward) nodes")
    draw.add_argument("--depth", type=int, help="collapse each layer this deep into one box")
    draw.add_argument("--legend", action="store_true", help="explain colours and shapes")
    draw.add_argument("--order", action="store_true", help="number the ops in execution order")
    draw.add_argument("--rankdir", default="TB", choices=["TB", "LR", "BT", "RL"],
                      help="layout direction")
    draw.add_argument("--title", help="caption above the diagram")
    page = commands.add_parser("explore", help="train the demo network, recording, and write the explorer page")
    page.add_argument("out", type=Path, help="the .html page to write")
    page.add_argument("--model", type=Path, help="a model saved with Model.save, instead of the demo network")
    page.add_argument("--epochs", type=int, help="epochs to train (default 1000; 0 with --model)")
    page.add_argument("--record-every", type=int, default=50, help="record every K-th step (default 50)")
    args = parser.parse_args(argv)
    from graphnn.core.errors import GraphError

    run = {"demo": lambda: demo(args.out), "render": lambda: render_command(args),
           "explore": lambda: explore_command(args)}[args.command]
    try:
        return run()
    except (GraphError, OSError) as error:  # one line, no traceback
        text = str(error) if isinstance(error, GraphError) else f"{error.strerror or error}: {error.filename}"
        print(f"graphnn {args.command}: {' '.join(text.removeprefix(args.command + ': ').split())}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
