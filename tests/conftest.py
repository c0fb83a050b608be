"""Shared fixtures.

``book_numpy`` runs a test the way the book's scripts run: after ``nnfs.init()``,
which patches numpy for the whole process (seed 0, float32 defaults, an
``np.dot`` that computes in float64). The patch is undone afterwards, so the
other tests see plain numpy; the library itself never calls ``nnfs.init()``.
"""

import nnfs
import numpy as np
import pytest

import graphnn as gn


@pytest.fixture(autouse=True)
def fresh_names():
    """Each test names its layers from dense1, relu1 ... again."""
    gn.reset_names()
    yield
    gn.reset_names()


@pytest.fixture
def book_numpy():
    saved = (np.dot, np.zeros, np.eye, np.random.randn)
    nnfs.init()
    try:
        yield
    finally:
        np.dot, np.zeros, np.eye, np.random.randn = saved
