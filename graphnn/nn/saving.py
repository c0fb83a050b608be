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

Loading uses ``np.load(..., allow_pickle=False)`` and ``json``, so reading a
file cannot run code. Writing goes to a temporary file in the same folder,
flushed to disk, then renamed over the target (``os.replace``), so an
interrupted save leaves the old file or none, never half a file. A file that
is truncated, corrupt, not graphnn's, or from another architecture gives a
:class:`graphnn.GraphError` naming what is wrong, before any parameter changes.

>>> model.save("spiral.npz")
>>> model = gn.Model.load("spiral.npz")
>>> other.load_parameters("spiral.npz")   # same architecture, or a clear error
"""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from typing import Any

import numpy as np

from graphnn.core.errors import GraphError
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
LAYERS: dict[str, type[Layer]] = {c.type_name: c for c in (Dense, ReLU, Softmax, Sigmoid, Linear, Dropout)}
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

def read(path) -> tuple[dict, dict[str, np.ndarray]]:
    """The header and arrays of a graphnn file; any damage is a GraphError naming the file."""
    try:
        archive = np.load(os.fspath(path), allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise GraphError(f"{path}: not a graphnn model file (a single .npy array, not an .npz)")
        with archive:
            arrays = {key: archive[key] for key in archive.files}
    except GraphError:
        raise
    except FileNotFoundError:
        raise GraphError(f"{path}: no such file") from None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as error:
        raise GraphError(f"{path}: not a readable graphnn model file (truncated or corrupt?): "
                         f"{error}") from None
    if HEADER not in arrays:
        raise GraphError(f"{path}: not a graphnn model file (no {HEADER} record)")
    try:
        header = json.loads(str(arrays.pop(HEADER)))
    except ValueError as error:
        raise GraphError(f"{path}: the {HEADER} record is not valid JSON: {error}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise GraphError(f"{path}: not a graphnn model file (format {header.get('format')!r})"
                         if isinstance(header, dict) else f"{path}: malformed {HEADER} record")
    if header.get("version") != VERSION:
        raise GraphError(f"{path}: graphnn file version {header.get('version')!r}; this graphnn "
                         f"reads version {VERSION}")
    for key in ("layers", "parameters"):
        if not isinstance(header.get(key), list):
            raise GraphError(f"{path}: malformed {HEADER} record (no {key} list)")
    return header, arrays


def _check_architecture(model, header: dict, arrays: dict, path) -> list[tuple[Any, np.ndarray]]:
    """``(parameter, array)`` pairs, once everything in the file matches ``model``."""
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
    pairs = []
    for key, param in _param_entries(model):
        if key not in arrays:
            raise GraphError(f"{path}: no array {key} for {param.name}")
        array = arrays[key]
        if array.shape != param.value.shape:
            raise GraphError(f"{path}: {key} has shape {format_shape(array.shape)} but {param.name} "
                             f"has shape {format_shape(param.value.shape)}")
        if array.dtype.kind != "f":
            raise GraphError(f"{path}: {key} holds {array.dtype}, not floats")
        pairs.append((param, array))
    return pairs


def _describe(layer: Layer) -> dict:
    config = layer.config() if isinstance(layer, Layer) else {}
    return {"kind": layer.type_name, "config": config}


def load_parameters(model, path) -> None:
    """Copy parameters from ``path`` into ``model`` (same architecture; checked before any change)."""
    model._require("load_parameters")
    header, arrays = read(path)
    for param, array in _check_architecture(model, header, arrays, path):
        np.copyto(param.value, array, casting="same_kind")


def assign_parameters(model, parameters) -> None:
    """``model.set_parameters([(weights, biases), ...])``: shapes checked before any change."""
    model._require("set_parameters")
    parameters = list(parameters)
    if len(parameters) != len(model.trainable_layers):
        raise GraphError(f"set_parameters: {len(parameters)} parameter sets for "
                         f"{len(model.trainable_layers)} trainable layers")
    pairs = []
    for layer, given in zip(model.trainable_layers, parameters):
        params = list(layer.parameters().values())
        given = [np.asarray(a) for a in given]
        if len(given) != len(params) or any(a.shape != p.value.shape for a, p in zip(given, params)):
            raise GraphError(f"set_parameters: {layer.name} needs arrays of shapes "
                             f"{', '.join(format_shape(p.value.shape) for p in params)}, got "
                             f"{', '.join(format_shape(a.shape) for a in given)}")
        pairs += zip(params, given)
    for param, array in pairs:
        np.copyto(param.value, array, casting="same_kind")


def load_model(path, model_class):
    """A finalized ``model_class`` (:class:`graphnn.Model`) rebuilt from a file written by ``model.save``."""
    header, arrays = read(path)
    if header.get("content") != "model":
        raise GraphError(f"{path}: holds only parameters (saved with save_parameters); build the model "
                         f"and call model.load_parameters(path), or save it with model.save(path)")
    model = model_class()
    state = np.random.get_state()  # building Dense layers draws weights: leave numpy's RNG as it was
    try:
        for i, entry in enumerate(header["layers"]):
            model.add(_build(LAYERS, entry, f"layer {i}", path))
        loss = _build(LOSSES, header.get("loss") or {}, "loss", path)
        accuracy = _build(ACCURACIES, header.get("accuracy") or {}, "accuracy", path)
        opt_entry = header.get("optimizer")
        optimizer = _build(OPTIMIZERS, opt_entry, "optimizer", path) if opt_entry else None
    finally:
        np.random.set_state(state)
    for key, param in _param_entries(model):
        if key in arrays:  # replaced by the file's arrays, keeping the file's dtype
            param.value = np.array(arrays[key])
    _check_architecture(model, header, arrays, path)
    model.set(loss=loss, accuracy=accuracy, optimizer=optimizer)
    model.finalize()
    if optimizer is not None:
        optimizer.iterations = int(opt_entry.get("iterations", 0))
        optimizer.current_learning_rate = float(opt_entry.get("current_learning_rate",
                                                              optimizer.learning_rate))
        for key, param in _param_entries(model):
            slots = {slot: arrays.get(f"optimizer.{key}.{slot}") for slot in optimizer.slots}
            if all(v is not None and v.shape == param.value.shape for v in slots.values()):
                optimizer.load_state(param, slots)
    return model


def _build(registry: dict, entry: dict, what: str, path):
    if not isinstance(entry, dict) or entry.get("kind") not in registry:
        kind = entry.get("kind") if isinstance(entry, dict) else entry
        raise GraphError(f"{path}: {what}: unknown kind {kind!r} (known: {', '.join(registry)})")
    config = entry.get("config", {})
    try:
        return registry[entry["kind"]](**config)
    except (TypeError, ValueError) as error:
        raise GraphError(f"{path}: {what}: cannot rebuild {entry['kind']} from {config}: {error}") from None
