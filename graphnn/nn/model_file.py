"""Reading a model file: a zip of ``.npy`` arrays and a JSON record, every field checked, never pickle.

See :mod:`graphnn.nn.saving` for the format. Reading uses :mod:`zipfile` and
``numpy.lib.format``'s header readers, so it cannot run code; the record is
bounded and checked before any array is read, and only the arrays it names
and sizes are read.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import re
import zipfile
import zlib
from typing import Any

import numpy as np

from graphnn.core.errors import GraphError, did_you_mean
from graphnn.core.node import format_shape
from graphnn.nn.layers import Dense
from graphnn.nn.registry import ACCURACIES, BUILT_IN, LAYERS, LOSSES, OPTIMIZERS

FORMAT, VERSION, HEADER = "graphnn", 1, "__graphnn__"


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
        _fail(path, field, f"must be a string of at most {MAX_TEXT} characters, got {short_text(value)}")
    if choices is not None and value not in choices:
        _fail(path, field, f"unknown {value!r} (known: {', '.join(choices)})")
    return value


def _count(value, field: str, path, least: int = 0) -> int:
    if type(value) is not int or not least <= value < 2 ** 62:
        _fail(path, field, f"must be a whole number >= {least}, got {short_text(value)}")
    return value


def _finite(value, field: str, path, least: float | None = None) -> float:
    if type(value) not in (int, float) or not math.isfinite(value) or (least is not None and value < least):
        _fail(path, field, f"must be a finite number{f' >= {least}' if least is not None else ''}, "
                           f"got {short_text(value)}")
    return value


def _list(value, field: str, path) -> list:
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        _fail(path, field, f"must be a list of at most {MAX_ITEMS} entries, got {short_text(value)}")
    return value


def short_text(value) -> str:
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
            _fail(path, f"{field}.{key}", f"must be a number, a boolean, a string or null, got {short_text(item)}")
    return value


def _check_header(header, path) -> dict:
    """The record with every field checked: types, ranges, sizes, and agreement between its parts."""
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise GraphError(f"{path}: not a graphnn model file (format {short_text(header.get('format'))})"
                         if isinstance(header, dict) else f"{path}: malformed {HEADER} record")
    if type(header.get("version")) is not int or header["version"] != VERSION:
        raise GraphError(f"{path}: graphnn file version {short_text(header.get('version'))}; this graphnn "
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


def convert_exactly(array: np.ndarray, dtype, what: str) -> np.ndarray:
    """``array`` as ``dtype``: a widening, or a narrowing that changes no value; else a GraphError."""
    if array.dtype == dtype:
        return array
    converted = array.astype(dtype)
    if not np.can_cast(array.dtype, dtype) and not np.array_equal(converted, array):
        raise GraphError(f"{what}: its {array.dtype} values do not fit {dtype} exactly")
    return converted
