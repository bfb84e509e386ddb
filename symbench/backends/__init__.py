"""The backend registry: the one place that decides which backends exist.

``REGISTRY`` maps a backend id (the same string on the CLI, in records, asv parameters and
pytest ids) to ``"module:Class"``; the module is imported on first use, so ``import
symbench`` never imports numba, jax, cupy or Cython. A new backend is one module plus one
line here.
"""

from __future__ import annotations

import importlib

from ..errors import unknown_name
from .base import Backend, Compiled

REGISTRY: dict[str, str] = {
    "numpy": "symbench.backends.numpy_backend:NumpyBackend",
    "numexpr": "symbench.backends.numexpr_backend:NumexprBackend",
    "ufuncify": "symbench.backends.ufuncify_backend:UfuncifyBackend",
    "cython": "symbench.backends.cython_backend:CythonBackend",
    "cython-parallel": "symbench.backends.cython_backend:CythonParallelBackend",
    "cython-nocse": "symbench.backends.cython_backend:CythonNoCseBackend",
    "cython-powmul": "symbench.backends.cython_backend:CythonPowMulBackend",
    "cython-fastmath": "symbench.backends.cython_backend:CythonFastMathBackend",
    "cython-parallel-fastmath": "symbench.backends.cython_backend:CythonParallelFastMathBackend",
    "numba": "symbench.backends.numba_backend:NumbaBackend",
    "numba-parallel": "symbench.backends.numba_backend:NumbaParallelBackend",
    "numba-fastmath": "symbench.backends.numba_backend:NumbaFastMathBackend",
    "jax": "symbench.backends.jax_backend:JaxBackend",
    "symengine": "symbench.backends.symengine_backend:SymengineBackend",
    "cupy": "symbench.backends.cupy_backend:CupyBackend",
}

_INSTANCES: dict[str, Backend] = {}

__all__ = [
    "REGISTRY",
    "Backend",
    "Compiled",
    "backend_ids",
    "get_backend",
    "select_backends",
    "with_variants",
]


def backend_ids() -> list[str]:
    return list(REGISTRY)


def get_backend(backend_id: str) -> Backend:
    """The backend instance for ``backend_id`` (imports its module on first use)."""
    if backend_id not in REGISTRY:
        raise unknown_name("backend", backend_id, REGISTRY)
    if backend_id not in _INSTANCES:
        module_name, _, cls_name = REGISTRY[backend_id].partition(":")
        cls = getattr(importlib.import_module(module_name), cls_name)
        _INSTANCES[backend_id] = cls()
    return _INSTANCES[backend_id]


def with_variants(ids: list[str] | None, variants: bool = False) -> list[str]:
    """The backend ids a run uses: ``ids``, or every backend that is not a code-generation
    variant; with ``variants``, also the variants of each of those (in registry order)."""
    chosen = list(ids) if ids else [b for b in REGISTRY if get_backend(b).variant_of is None]
    if variants:
        chosen += [b for b in REGISTRY if b not in chosen and get_backend(b).variant_of in chosen]
    return chosen


def select_backends(ids: list[str] | None, variants: bool = False) -> list[Backend]:
    """Backends by id (see ``with_variants``); unknown ids are BadInput."""
    return [get_backend(i) for i in with_variants(ids, variants)]
