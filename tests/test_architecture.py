"""The package's shape: imports flow one way, modules stay readable, building is thread-safe."""

import ast
import threading
from pathlib import Path

import networkx as nx
import numpy as np

import graphnn as gn

PACKAGE = Path(gn.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set) -> set:
    """Every graphnn module ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n for n in names if n in modules and n.startswith("graphnn.")}
    return found


def import_graph() -> nx.DiGraph:
    """Module -> the graphnn modules it imports (packages left out: only the top one imports anything)."""
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(f) for f in files if f.name != "__init__.py"}
    graph = nx.DiGraph()
    for f in files:
        me = module_name(f)
        graph.add_node(me)
        graph.add_edges_from((me, other) for other in imports_of(f, modules) if other != me)
    return graph


def test_no_import_cycles_counting_imports_inside_functions():
    graph = import_graph()
    assert graph.number_of_edges() > 30  # the walk sees the package's imports
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, cycles


def test_layers_import_only_layers_below_them():
    order = ["graphnn.core", "graphnn.autodiff", "graphnn.seeing", "graphnn.runtime", "graphnn.graph",
             "graphnn.nn", "graphnn.interop", "graphnn.testing", "graphnn.cli"]
    # The one way up: the Model hands Dask arrays to the dask extra, imported only then.
    allowed = {("graphnn.nn.model", "graphnn.interop.dask")}

    def layer(module: str) -> int:
        return max((i for i, prefix in enumerate(order) if module == prefix or module.startswith(prefix + ".")),
                   default=-1)

    graph = import_graph()
    upward = [(a, b) for a, b in graph.edges if a != "graphnn" and layer(b) > layer(a) and (a, b) not in allowed]
    assert not upward, upward


def test_subpackage_inits_import_nothing():
    for init in PACKAGE.rglob("__init__.py"):
        if init.parent != PACKAGE:
            tree = ast.parse(init.read_text())
            assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))], init


def test_no_module_is_longer_than_450_lines():
    long = {str(f.relative_to(PACKAGE)): n for f in PACKAGE.rglob("*.py")
            if (n := len(f.read_text().splitlines())) > 450}
    assert not long, long


def test_no_module_tests_an_op_by_its_name():
    """Behaviour that depends on the operation asks the primitive, never compares ``node.op`` to a string."""
    offenders = []
    for f in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Compare) and any(
                    isinstance(side, ast.Attribute) and side.attr == "op" for side in [node.left, *node.comparators]):
                offenders.append(f"{f.relative_to(PACKAGE)}:{node.lineno}")
    assert not offenders, offenders


def test_four_threads_building_at_once_keep_their_scopes_and_names():
    results, errors = {}, []
    start = threading.Barrier(4)

    def build(k: int):
        try:
            start.wait()
            gn.reset_names()
            X = gn.Input("X")
            out = X
            for _ in range(40):
                out = gn.ReLU()(gn.Dense(3, 3)(out))
            graph = gn.Graph([gn.Softmax()(out)])
            results[k] = graph
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=build, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for graph in results.values():
        names = [n.name for n in graph.nodes]
        assert len(set(names)) == len(names)
        assert "dense40/matmul" in names and "relu40/maximum" in names and "softmax1/normalize" in names
        for n in graph.nodes:
            if n.kind == "op":  # a node's scope is the layer that built it, in its own thread
                assert n.name.startswith("/".join(n.scope) + "/"), n.name
                assert len(n.scope) == 1, n.name
        x = np.ones((2, 3), np.float32)
        assert graph.run({"X": x})[graph.outputs[0]].shape == (2, 3)


def test_the_graph_as_networkx_answers_dependency_questions():
    X, W = gn.Input("X", shape=(None, 2)), gn.Parameter(np.ones((2, 3)), name="W")
    h = gn.matmul(X, W, name="h")
    out = gn.sum(gn.exp(h, name="e") + h, name="total")
    other = gn.neg(X, name="other")
    graph = gn.Graph([out, other])
    assert graph.nx.number_of_edges() == sum(len(n.inputs) for n in graph.nodes)
    assert [n.name for n in graph.depends_on("total")] == ["X", "W", "h", "e", "add"]
    assert [n.name for n in graph.influences("W")] == ["h", "e", "add", "total"]
    assert [n.name for n in graph.path("W", "total")] == ["W", "h", "add", "total"]
    assert graph.path("W", "other") == []
