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

import io
import json
from typing import Any

import numpy as np

from graphnn.core.errors import GraphError
from graphnn.core.files import write_atomically
from graphnn.core.node import format_shape
from graphnn.nn.layers import Dense, Dropout, Layer
from graphnn.nn.model_file import FORMAT, HEADER, VERSION, convert_exactly, read, short_text
from graphnn.nn.registry import ACCURACIES, LAYERS, LOSSES, OPTIMIZERS, register_layer  # noqa: F401 (public)

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
        pairs.append((param, convert_exactly(array, param.value.dtype, f"{path}: {key} for {param.name}")))
    return pairs


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
            pairs.append((param, convert_exactly(array, param.value.dtype, f"set_parameters: {param.name}")))
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
        raise GraphError(f"{path}: {field}: cannot rebuild {entry['kind']} from {short_text(config)}: "
                         f"{error}") from None
