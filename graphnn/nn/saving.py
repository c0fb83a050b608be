"""Saving and loading models: one ``.npz`` file, arrays plus a JSON header, never pickle.

The file is a numpy ``.npz`` archive (a zip of ``.npy`` arrays). It holds:

- ``__graphnn__``: a JSON text (a 0-d unicode array) describing the
  architecture: ``{"format": "graphnn", "version": 1, "content": "model" or
  "parameters", "layers": [{"kind": "dense", "config": {...}}, ...],
  "parameters": [{"key": "layer0.weights", "shape": [2, 64], "dtype":
  "float32"}, ...]}``, and for a whole model also ``loss``, ``accuracy`` and
  ``optimizer`` (kind, hyperparameters, iteration count, state keys).
- ``layer0.weights``, ``layer0.biases``, ...: the parameters, by layer position.
- ``optimizer.layer0.weights.momentums`` ...: the optimizer's state (model files).

Loading reads the zip with :mod:`zipfile` and ``.npy`` headers with
``numpy.lib.format`` (never pickle), so reading a file cannot run code. The
JSON record is bounded (size, nesting, string lengths; no NaN, no repeated
keys) and every field is checked: kinds, constructor arguments (booleans as
booleans, finite numbers), Dense sizes against the parameter list, optimizer
iterations, learning rate and state (every slot or none). Only the arrays
the record names are read, each after its header's shape and dtype and the
zip's stored size agree with the record; arrays must be finite. Writing goes
to a temporary file in the same folder, flushed to disk, then renamed over
the target (``os.replace``), so an interrupted save leaves the old file or
none, never half a file. A file that is truncated, corrupt, tampered with,
not graphnn's, or from another architecture gives a
:class:`graphnn.GraphError` naming the file and the field, before any
parameter changes.

>>> model.save("spiral.npz")
>>> model = gn.Model.load("spiral.npz")
>>> other.load_parameters("spiral.npz")   # same architecture, or a clear error
"""

from __future__ import annotations

import inspect
import io
import json
import math
import os
import re
import zipfile
import zlib
from typing import Any

import numpy as np

from graphnn.core.errors import GraphError, did_you_mean
from graphnn.core.files import write_atomically
from graphnn.core.node import format_shape
from graphnn.nn.layers import Dense, Dropout, Layer, Linear, ReLU, Sigmoid, Softmax
from graphnn.nn.losses import (
    BinaryCrossEntropy,
    CategoricalCrossEntropy,
    Loss,
    MeanAbsoluteError,
    MeanSquaredError,
)
from graphnn.nn.metrics import Accuracy, BinaryAccuracy, CategoricalAccuracy, RegressionAccuracy
from graphnn.nn.optimizers import OPTIMIZERS

FORMAT, VERSION, HEADER = "graphnn", 1, "__graphnn__"

# Explicit registries: only these kinds can be saved and rebuilt.
BUILT_IN = (Dense, ReLU, Softmax, Sigmoid, Linear, Dropout)
LAYERS: dict[str, type[Layer]] = {c.type_name: c for c in BUILT_IN}
LOSSES: dict[str, type[Loss]] = {c.type_name: c for c in (CategoricalCrossEntropy, BinaryCrossEntropy,
                                                     MeanSquaredError, MeanAbsoluteError)}
ACCURACIES: dict[str, type[Accuracy]] = {c.type_name: c for c in (CategoricalAccuracy, BinaryAccuracy,
                                                             RegressionAccuracy)}


def register_layer(cls: type[Layer]) -> type[Layer]:
    """Let models with layers of class ``cls`` be saved and loaded (a decorator).

    The class needs a unique ``type_name`` and a ``config()`` whose keywords
    rebuild it; its parameters are saved like Dense's.

    >>> @gn.register_layer
    ... class Softplus(gn.Layer):
    ...     type_name = "softplus"
    ...     def forward(self, x): return softplus(x)
    """
    if not (isinstance(cls, type) and issubclass(cls, Layer)) or issubclass(cls, Loss):
        raise GraphError(f"register_layer: {cls!r} is not a Layer subclass")
    name = getattr(cls, "type_name", None)
    if not isinstance(name, str) or not name.isidentifier() or name == Layer.type_name:
        raise GraphError(f"register_layer: {cls.__name__} needs a type_name of its own, got {name!r}")
    if LAYERS.get(name, cls) is not cls:
        raise GraphError(f"register_layer: type_name {name!r} is taken by {LAYERS[name].__name__}")
    LAYERS[name] = cls
    return cls


# ---------------------------------------------------------------- describing a model

def _describe_layer(layer: Layer) -> dict:
    if LAYERS.get(layer.type_name) is not type(layer):
        raise GraphError(f"cannot save layer {layer.name} ({type(layer).__name__}): only the built-in "
                         f"layers {', '.join(c.__name__ for c in LAYERS.values())} can be saved")
    return {"kind": layer.type_name, "config": layer.config()}


def _layer_text(entry: dict) -> str:
    cls = LAYERS.get(entry.get("kind"))
    name = cls.__name__ if cls else repr(entry.get("kind"))
    config = entry.get("config", {})
    if cls is Dense:
        return f"Dense({config.get('n_inputs')}, {config.get('n_neurons')})"
    if cls is Dropout:
        return f"Dropout({config.get('rate')})"
    return f"{name}()"


def _param_entries(model) -> list[tuple[str, Any]]:
    """``(key, parameter node)`` for every parameter, keyed by layer position."""
    return [(f"layer{i}.{attr}", param)
            for i, layer in enumerate(model.layers) for attr, param in layer.parameters().items()]


def _header(model, content: str) -> dict:
    return {
        "format": FORMAT, "version": VERSION, "content": content,
        "layers": [_describe_layer(layer) for layer in model.layers],
        "parameters": [{"key": key, "shape": list(p.value.shape), "dtype": str(p.value.dtype)}
                       for key, p in _param_entries(model)],
    }


# ---------------------------------------------------------------- writing

def _write(path, header: dict, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **{HEADER: np.array(json.dumps(header))}, **arrays)
    write_atomically(path, buffer.getvalue())


def save_parameters(model, path) -> None:
    """Write ``model``'s parameters, with its architecture to check on loading."""
    model._require("save_parameters")
    _write(path, _header(model, "parameters"), {key: p.value for key, p in _param_entries(model)})


def save_model(model, path) -> None:
    """Write the whole model: layers, loss, accuracy, optimizer (with state) and parameters."""
    model._require("save")
    header = _header(model, "model")
    if LOSSES.get(model.loss.type_name) is not type(model.loss):
        raise GraphError(f"cannot save loss {type(model.loss).__name__}: not a built-in loss")
    header["loss"] = {"kind": model.loss.type_name}
    if ACCURACIES.get(model.accuracy.type_name) is not type(model.accuracy):
        raise GraphError(f"cannot save accuracy {type(model.accuracy).__name__}: not a built-in accuracy")
    header["accuracy"] = {"kind": model.accuracy.type_name, "config": model.accuracy.config()}
    arrays = {key: p.value for key, p in _param_entries(model)}
    opt = model.optimizer
    if opt is not None:
        if OPTIMIZERS.get(opt.type_name) is not type(opt):
            raise GraphError(f"cannot save optimizer {type(opt).__name__}: not a built-in optimizer")
        state_keys = []
        for key, p in _param_entries(model):
            for slot in opt.slots:
                if p in opt.state:
                    arrays[f"optimizer.{key}.{slot}"] = opt.state[p][slot]
                    state_keys.append(f"optimizer.{key}.{slot}")
        header["optimizer"] = {"kind": opt.type_name, "config": opt.config(), "iterations": opt.iterations,
                               "current_learning_rate": opt.current_learning_rate, "state": state_keys}
    else:
        header["optimizer"] = None
    _write(path, header, arrays)


# ---------------------------------------------------------------- reading

MAX_RECORD_BYTES = 1 << 22  # the JSON record's .npy member (4 bytes a character)
MAX_DEPTH = 6               # nesting of the JSON record: {"layers": [{"config": {...}}]} is 4
MAX_TEXT = 200              # characters in any string of the record
MAX_ITEMS = 100_000         # layers, parameters, state keys
FLOATS = ("float16", "float32", "float64")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def read(path) -> tuple[dict, dict[str, np.ndarray]]:
    """The header (every field checked) and the arrays it names; damage is a GraphError naming file and field.

    Only the members the header names are read, each after its ``.npy``
    header's shape and dtype and the zip's declared size match the record, so
    a small file cannot make this allocate or decompress more than the record
    declares (which is what the parameters and optimizer state take).
    """
    try:
        with zipfile.ZipFile(os.fspath(path)) as archive:
            infos = archive.infolist()
            members = {info.filename: info for info in infos}
            if len(members) != len(infos):
                raise GraphError(f"{path}: not a readable graphnn model file (a member appears twice)")
            header = _check_header(_record(archive, members, path), path)
            wanted = _declared_arrays(header, path)
            for name in members:
                if name.removesuffix(".npy") not in wanted and name != f"{HEADER}.npy":
                    raise GraphError(f"{path}: holds an array {name!r} that its {HEADER} record does not name")
            arrays = {key: _member(archive, members, key, shape, dtype, path)
                      for key, (shape, dtype) in wanted.items()}
    except GraphError:
        raise
    except FileNotFoundError:
        raise GraphError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise GraphError(f"{path}: is a folder, not a model file") from None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error, NotImplementedError,
            MemoryError) as error:
        raise GraphError(f"{path}: not a readable graphnn model file (truncated or corrupt?): "
                         f"{error}") from None
    _check_state_values(header, arrays, path)
    return header, arrays


def _npy_header(stream, what: str, path) -> tuple[tuple, bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` from a ``.npy`` member's header, reading only the header."""
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(stream)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(stream)
    raise GraphError(f"{path}: {what}: unsupported .npy version {version}")


def _record(archive: zipfile.ZipFile, members: dict, path) -> Any:
    """The parsed JSON record: bounded in size and nesting, no NaN/Infinity, no repeated keys."""
    info = members.get(f"{HEADER}.npy")
    if info is None:
        raise GraphError(f"{path}: not a graphnn model file (no {HEADER} record)")
    if info.file_size > MAX_RECORD_BYTES:
        raise GraphError(f"{path}: {HEADER}: a record of {info.file_size} bytes (at most {MAX_RECORD_BYTES})")
    with archive.open(info) as stream:
        shape, _, dtype = _npy_header(stream, HEADER, path)
        if shape != () or dtype.kind != "U":
            raise GraphError(f"{path}: {HEADER}: not a JSON text (a {dtype} array of shape {format_shape(shape)})")
        text = str(np.frombuffer(stream.read(dtype.itemsize), dtype)[0])
    depth = deepest = 0
    for bracket in re.sub(r"[^\[\]{}]", "", re.sub(r'"(?:[^"\\]|\\.)*"', "", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(depth, deepest)
    if deepest > MAX_DEPTH:
        raise GraphError(f"{path}: {HEADER}: nested {deepest} levels deep (at most {MAX_DEPTH})")

    def refuse_constant(name):
        raise GraphError(f"{path}: {HEADER}: {name} is not a number this format allows")

    def unique_keys(pairs):
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise GraphError(f"{path}: {HEADER}: a key appears twice in one object ({', '.join(keys)})")
        return dict(pairs)
    try:
        return json.loads(text, parse_constant=refuse_constant, object_pairs_hook=unique_keys)
    except ValueError as error:
        if isinstance(error, GraphError):
            raise
        raise GraphError(f"{path}: the {HEADER} record is not valid JSON: {error}") from None


def _fail(path, field: str, problem: str):
    raise GraphError(f"{path}: {field}: {problem}")


def _fields(value, field: str, path, required: tuple, optional: tuple = ()) -> dict:
    """``value`` as an object with exactly the ``required`` keys, plus any of ``optional``."""
    if not isinstance(value, dict):
        _fail(path, field, f"must be an object, got {type(value).__name__}")
    for key in value:
        if key not in required + optional:
            _fail(path, field, f"unknown field {key!r}{did_you_mean(key, required + optional)}")
    for key in required:
        if key not in value:
            _fail(path, field, f"no field {key!r}")
    return value


def _text(value, field: str, path, choices=None) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        _fail(path, field, f"must be a string of at most {MAX_TEXT} characters, got {_short(value)}")
    if choices is not None and value not in choices:
        _fail(path, field, f"unknown {value!r} (known: {', '.join(choices)})")
    return value


def _count(value, field: str, path, least: int = 0) -> int:
    if type(value) is not int or not least <= value < 2 ** 62:
        _fail(path, field, f"must be a whole number >= {least}, got {_short(value)}")
    return value


def _finite(value, field: str, path, least: float | None = None) -> float:
    if type(value) not in (int, float) or not math.isfinite(value) or (least is not None and value < least):
        _fail(path, field, f"must be a finite number{f' >= {least}' if least is not None else ''}, "
                           f"got {_short(value)}")
    return value


def _list(value, field: str, path) -> list:
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        _fail(path, field, f"must be a list of at most {MAX_ITEMS} entries, got {_short(value)}")
    return value


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _config(value, cls: type, field: str, path) -> dict:
    """A constructor's keywords: known names only, JSON scalars (booleans as booleans, finite numbers)."""
    if not isinstance(value, dict):
        _fail(path, field, f"must be an object, got {type(value).__name__}")
    known = [name for name in inspect.signature(cls).parameters if name != "name"]
    for key, item in value.items():
        if key not in known:
            _fail(path, f"{field}.{key[:MAX_TEXT]}", f"not an argument of {cls.__name__}"
                                                 f"{did_you_mean(key, known)}")
        if isinstance(item, str):
            _text(item, f"{field}.{key}", path)
        elif isinstance(item, float):
            _finite(item, f"{field}.{key}", path)
        elif item is not None and not isinstance(item, (bool, int)):
            _fail(path, f"{field}.{key}", f"must be a number, a boolean, a string or null, got {_short(item)}")
    return value


def _check_header(header, path) -> dict:
    """The record with every field checked: types, ranges, sizes, and agreement between its parts."""
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise GraphError(f"{path}: not a graphnn model file (format {_short(header.get('format'))})"
                         if isinstance(header, dict) else f"{path}: malformed {HEADER} record")
    if type(header.get("version")) is not int or header["version"] != VERSION:
        raise GraphError(f"{path}: graphnn file version {_short(header.get('version'))}; this graphnn "
                         f"reads version {VERSION}")
    whole = header.get("content") == "model"
    _fields(header, HEADER, path, ("format", "version", "content", "layers", "parameters")
            + (("loss", "accuracy", "optimizer") if whole else ()))
    _text(header["content"], "content", path, ("model", "parameters"))
    for i, entry in enumerate(_list(header["layers"], "layers", path)):
        field = f"layers[{i}]"
        _fields(entry, field, path, ("kind", "config"))
        kind = _text(entry["kind"], f"{field}.kind", path, list(LAYERS))
        config = _config(entry["config"], LAYERS[kind], f"{field}.config", path)
        if LAYERS[kind] is Dense:
            for key in ("n_inputs", "n_neurons"):
                _count(config.get(key), f"{field}.config.{key}", path, 1)
    declared = {}
    for i, entry in enumerate(_list(header["parameters"], "parameters", path)):
        field = f"parameters[{i}]"
        _fields(entry, field, path, ("key", "shape", "dtype"))
        key = _text(entry["key"], f"{field}.key", path)
        layer, _, attr = key.partition(".")
        if not (layer.startswith("layer") and layer[5:].isdigit() and int(layer[5:]) < len(header["layers"])
                and NAME.match(attr)) or key in declared:
            _fail(path, f"{field}.key", f"{key!r} is not layer<i>.<name> for a layer of the file, or repeats")
        shape = _list(entry["shape"], f"{field}.shape", path)
        if len(shape) > 8:
            _fail(path, f"{field}.shape", f"{len(shape)} dimensions (at most 8)")
        declared[key] = tuple(_count(d, f"{field}.shape", path) for d in shape)
        _text(entry["dtype"], f"{field}.dtype", path, FLOATS)
    for i, entry in enumerate(header["layers"]):  # Dense's arrays, from its sizes: nothing more, nothing less
        if LAYERS[entry["kind"]] is Dense:
            n_in, n_out = entry["config"]["n_inputs"], entry["config"]["n_neurons"]
            want = {f"layer{i}.weights": (n_in, n_out), f"layer{i}.biases": (1, n_out)}
            have = {k: v for k, v in declared.items() if k.startswith(f"layer{i}.")}
            if have != want:
                listed = ", ".join(f"{k} {format_shape(v)}" for k, v in have.items()) or "none"
                _fail(path, f"parameters (layer {i})", f"Dense({n_in}, {n_out}) has weights "
                      f"{format_shape((n_in, n_out))} and biases {format_shape((1, n_out))}; the record lists {listed}")
        elif LAYERS[entry["kind"]] in BUILT_IN and any(k.startswith(f"layer{i}.") for k in declared):
            _fail(path, f"parameters (layer {i})", f"{entry['kind']} has no parameters")
    if whole:
        for part, registry in (("loss", LOSSES), ("accuracy", ACCURACIES)):
            entry = _fields(header.get(part), part, path, ("kind",), ("config",))
            kind = _text(entry["kind"], f"{part}.kind", path, list(registry))
            _config(entry.get("config", {}), registry[kind], f"{part}.config", path)
        if header.get("optimizer") is not None:
            _check_optimizer(header["optimizer"], declared, path)
    return header


def _check_optimizer(entry, declared: dict, path) -> None:
    _fields(entry, "optimizer", path, ("kind", "config", "iterations", "current_learning_rate", "state"))
    kind = _text(entry["kind"], "optimizer.kind", path, list(OPTIMIZERS))
    _config(entry["config"], OPTIMIZERS[kind], "optimizer.config", path)
    _count(entry["iterations"], "optimizer.iterations", path)
    _finite(entry["current_learning_rate"], "optimizer.current_learning_rate", path, 0)
    state = [_text(k, "optimizer.state", path) for k in _list(entry["state"], "optimizer.state", path)]
    every = [f"optimizer.{key}.{slot}" for key in declared for slot in OPTIMIZERS[kind].slots]
    if state and sorted(state) != sorted(every):
        missing, extra = sorted(set(every) - set(state)), sorted(set(state) - set(every))
        _fail(path, "optimizer.state", "must name every state array of every parameter, or none; "
                                       + "; ".join(([f"missing {', '.join(missing[:4])}"] if missing else [])
                                                   + ([f"unknown {', '.join(extra[:4])}"] if extra else [])
                                                   + (["repeats a key"] if len(set(state)) != len(state) else [])))


def _declared_arrays(header: dict, path) -> dict[str, tuple[tuple, np.dtype]]:
    """Every array the record names, with the shape and dtype it must have."""
    wanted = {e["key"]: (tuple(e["shape"]), np.dtype(e["dtype"])) for e in header["parameters"]}
    opt = header.get("optimizer")
    for key in (opt or {}).get("state", []):
        param = key[len("optimizer."):key.rindex(".")]
        wanted[key] = (wanted[param][0], None)  # the state's dtype: any float (numpy's promotion)
    return wanted


def _member(archive: zipfile.ZipFile, members: dict, key: str, shape: tuple, dtype, path) -> np.ndarray:
    """The array ``key``, read only once its .npy header and size agree with the record."""
    info = members.get(f"{key}.npy")
    if info is None:
        raise GraphError(f"{path}: no array {key}")
    with archive.open(info) as stream:
        found, fortran, found_dtype = _npy_header(stream, key, path)
        if found != shape:
            raise GraphError(f"{path}: {key}: an array of shape {format_shape(found)}; the record says "
                             f"{format_shape(shape)}")
        if found_dtype.kind != "f" or found_dtype.hasobject or (dtype is not None and found_dtype != dtype):
            raise GraphError(f"{path}: {key}: holds {found_dtype}, "
                             f"{'not floats' if dtype is None else f'the record says {dtype}'}")
        size = math.prod(shape) * found_dtype.itemsize
        if info.file_size != stream.tell() + size:
            raise GraphError(f"{path}: {key}: the archive stores {info.file_size} bytes for an array of "
                             f"{size} bytes (truncated or padded)")
        data = bytearray(size)
        if stream.readinto(data) != size:
            raise GraphError(f"{path}: {key}: truncated")
    array = np.frombuffer(data, found_dtype).reshape(shape, order="F" if fortran else "C")
    array = np.ascontiguousarray(array)
    if not np.isfinite(array).all():
        raise GraphError(f"{path}: {key}: holds NaN or Inf")
    return array


def _check_state_values(header: dict, arrays: dict, path) -> None:
    opt = header.get("optimizer")
    for key in (opt or {}).get("state", []):
        if key.endswith(".cache") and (arrays[key] < 0).any():
            raise GraphError(f"{path}: {key}: a cache of squared gradients holds negative values")


def _check_architecture(model, header: dict, arrays: dict, path) -> list[tuple[Any, np.ndarray]]:
    """``(parameter, array)`` pairs, once everything in the file matches ``model`` (arrays converted exactly)."""
    saved = header["layers"]
    if len(saved) != len(model.layers):
        raise GraphError(f"{path}: the file's model has {len(saved)} layers "
                         f"({', '.join(_layer_text(e) for e in saved)}); this model has "
                         f"{len(model.layers)} "
                         f"({', '.join(_layer_text(_describe(x)) for x in model.layers)})")
    for i, (entry, layer) in enumerate(zip(saved, model.layers)):
        mine = _describe(layer)
        same = entry.get("kind") == mine["kind"]
        if same and layer.type_name == "dense":
            config = entry.get("config", {})
            same = (config.get("n_inputs"), config.get("n_neurons")) == (layer.n_inputs, layer.n_neurons)
        if not same:
            raise GraphError(f"{path}: layer {i} ({layer.name}) is {_layer_text(entry)} in the file "
                             f"but {_layer_text(mine)} in this model")
    entries = _param_entries(model)
    extra = sorted({e["key"] for e in header["parameters"]} - {key for key, _ in entries})
    if extra:
        raise GraphError(f"{path}: parameters: {', '.join(extra)} belong to no parameter of this model")
    pairs = []
    for key, param in entries:
        if key not in arrays:
            raise GraphError(f"{path}: no array {key} for {param.name}")
        array = arrays[key]
        if array.shape != param.value.shape:
            raise GraphError(f"{path}: {key} has shape {format_shape(array.shape)} but {param.name} "
                             f"has shape {format_shape(param.value.shape)}")
        pairs.append((param, _exactly(array, param.value.dtype, f"{path}: {key} for {param.name}")))
    return pairs


def _exactly(array: np.ndarray, dtype, what: str) -> np.ndarray:
    """``array`` as ``dtype``: a widening, or a narrowing that changes no value; else a GraphError."""
    if array.dtype == dtype:
        return array
    converted = array.astype(dtype)
    if not np.can_cast(array.dtype, dtype) and not np.array_equal(converted, array):
        raise GraphError(f"{what}: its {array.dtype} values do not fit {dtype} exactly")
    return converted


def _describe(layer: Layer) -> dict:
    config = layer.config() if isinstance(layer, Layer) else {}
    return {"kind": layer.type_name, "config": config}


def load_parameters(model, path) -> None:
    """Copy parameters from ``path`` into ``model`` (same architecture; checked before any change)."""
    model._require("load_parameters")
    header, arrays = read(path)
    _rebuild(header, path)  # every config in the file must make sense, even those this does not use
    for param, array in _check_architecture(model, header, arrays, path):
        np.copyto(param.value, array)


def assign_parameters(model, parameters) -> None:
    """``model.set_parameters([(weights, biases), ...])``: everything checked before any change.

    Each array must hold finite real numbers of the parameter's shape that
    convert to its dtype exactly.
    """
    model._require("set_parameters")
    try:
        parameters = [list(given) for given in parameters]
    except TypeError:
        raise GraphError("set_parameters: needs a list of (weights, biases) pairs, as get_parameters() "
                         "returns") from None
    if len(parameters) != len(model.trainable_layers):
        raise GraphError(f"set_parameters: {len(parameters)} parameter sets for "
                         f"{len(model.trainable_layers)} trainable layers")
    pairs = []
    for layer, given in zip(model.trainable_layers, parameters):
        params = list(layer.parameters().values())
        try:
            given = [np.asarray(a) for a in given]
        except (TypeError, ValueError):
            given = [np.empty(0, object)]
        if any(a.dtype.kind not in "biuf" for a in given):
            raise GraphError(f"set_parameters: {layer.name} needs arrays of real numbers, got "
                             f"{', '.join(str(a.dtype) for a in given)}")
        if len(given) != len(params) or any(a.shape != p.value.shape for a, p in zip(given, params)):
            raise GraphError(f"set_parameters: {layer.name} needs arrays of shapes "
                             f"{', '.join(format_shape(p.value.shape) for p in params)}, got "
                             f"{', '.join(format_shape(a.shape) for a in given)}")
        for param, array in zip(params, given):
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                raise GraphError(f"set_parameters: the array for {param.name} holds NaN or Inf")
            pairs.append((param, _exactly(array, param.value.dtype, f"set_parameters: {param.name}")))
    for param, array in pairs:
        np.copyto(param.value, array)


def load_model(path, model_class):
    """A finalized ``model_class`` (:class:`graphnn.Model`) rebuilt from a file written by ``model.save``."""
    header, arrays = read(path)
    if header["content"] != "model":
        raise GraphError(f"{path}: holds only parameters (saved with save_parameters); build the model "
                         f"and call model.load_parameters(path), or save it with model.save(path)")
    layers, loss, accuracy, optimizer = _rebuild(header, path)
    model = model_class()
    for layer in layers:
        model.add(layer)
    opt_entry = header.get("optimizer")
    for key, param in _param_entries(model):
        if key in arrays and arrays[key].shape == param.value.shape:  # the file's arrays, with its dtype
            param.value = arrays[key]
            param.dtype = arrays[key].dtype
    _check_architecture(model, header, arrays, path)
    model.set(loss=loss, accuracy=accuracy, optimizer=optimizer)
    model.finalize()
    if optimizer is not None:
        optimizer.iterations = opt_entry["iterations"]
        optimizer.current_learning_rate = float(opt_entry["current_learning_rate"])
        if opt_entry["state"]:
            for key, param in _param_entries(model):
                optimizer.load_state(param, {slot: arrays[f"optimizer.{key}.{slot}"] for slot in optimizer.slots})
    return model


def _rebuild(header: dict, path) -> tuple[list, Any, Any, Any]:
    """The file's layers, loss, accuracy and optimizer (None for a parameters file), from its checked record.

    Dense layers draw their initial weights; numpy's random state is left as it was.
    """
    state = np.random.get_state()
    try:
        layers = [_build(LAYERS, entry, f"layers[{i}]", path) for i, entry in enumerate(header["layers"])]
    finally:
        np.random.set_state(state)
    if header["content"] != "model":
        return layers, None, None, None
    opt_entry = header.get("optimizer")
    return (layers, _build(LOSSES, header["loss"], "loss", path),
            _build(ACCURACIES, header["accuracy"], "accuracy", path),
            _build(OPTIMIZERS, opt_entry, "optimizer", path) if opt_entry else None)


def _build(registry: dict, entry: dict, field: str, path):
    """An object of the (checked) ``entry``'s kind, from its config; the constructor's checks name the field."""
    config = entry.get("config", {})
    try:
        return registry[entry["kind"]](**config)
    except (TypeError, ValueError) as error:
        raise GraphError(f"{path}: {field}: cannot rebuild {entry['kind']} from {_short(config)}: "
                         f"{error}") from None
