"""Shared fixtures. Matrices are built from the registries, never written by hand."""

from __future__ import annotations

import pytest

from symbench.backends import backend_ids, get_backend
from symbench.kernels import catalog
from symbench.kernels.core import DTYPES

KERNELS = list(catalog())
BACKENDS = backend_ids()
AVAILABLE = [b for b in BACKENDS if get_backend(b).unavailable_reason() is None]


def pytest_report_header(config):
    lines = []
    for b in BACKENDS:
        reason = get_backend(b).unavailable_reason()
        lines.append(f"  {b}: {'available' if reason is None else 'unavailable: ' + reason}")
    return ["symbench backends:", *lines]


@pytest.fixture(scope="session")
def prepared():
    """Every available backend's ahead-of-time builds of the catalog, made once, as
    ``symbench run`` makes them (``equivalence.check_matrix`` calls ``prepare``): Cython
    builds one module per variant for all kernels and dtypes (about 8 s) where the matrix
    tests would otherwise build some 200 single-kernel modules (2.5-3 s each on the
    development VM). Single-kernel builds and their cache are tested on their own
    (tests/test_backends.py, with ``tmp_cache``)."""
    kernels = list(catalog().values())
    for b in AVAILABLE:
        get_backend(b).prepare(kernels, list(DTYPES))


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    """An empty symbench cache for tests that look at building and caching."""
    path = tmp_path / "cache"
    monkeypatch.setenv("SYMBENCH_CACHE", str(path))
    from symbench import reference

    monkeypatch.setattr(reference, "_MEMORY", {})
    return path


__all__ = ["AVAILABLE", "BACKENDS", "DTYPES", "KERNELS"]


def pytest_benchmark_update_machine_info(config, machine_info):
    """Our device fingerprint (CPU flags, memory, GPUs) in pytest-benchmark's machine info."""
    from symbench.devices import fingerprint

    machine_info["symbench"] = fingerprint()
