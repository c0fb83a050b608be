"""Bridges from graphnn to other systems, each an optional extra.

- :mod:`graphnn.interop.dask`: data-parallel training, evaluation and
  whole-data-set statistics on a ``dask.distributed`` cluster
  (``pip install 'graphnn[dask]'``).
"""
