"""Bridges from graphnn to other systems, each an optional extra.

- :mod:`graphnn.interop.onnx`: a graphnn inference graph (or ``gn.Model``) as an
  ONNX model, and ONNX models as graphnn primitives to run, inspect by name,
  draw, differentiate and fine-tune (``pip install 'graphnn[onnx]'``).
- :mod:`graphnn.interop.dask`: data-parallel training, evaluation and
  whole-data-set statistics on a ``dask.distributed`` cluster
  (``pip install 'graphnn[dask]'``).
"""
