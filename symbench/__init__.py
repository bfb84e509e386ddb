"""symbench: one SymPy expression, every backend, checked against mpmath, timed, recorded.

``import symbench`` needs only numpy and sympy: backends import their libraries (numba,
jax, cupy, Cython ...) on first use.
"""

from __future__ import annotations

from ._version import __version__
from .backends import REGISTRY, Backend, Compiled, backend_ids, get_backend
from .equivalence import CheckResult, check_matrix, check_one
from .errors import BadInput, SymbenchError, Unavailable, Unsupported
from .inputs import make_inputs
from .kernels import Domain, Kernel, Tolerance, catalog, get_kernel, load_kernels_file
from .serve import Served, compile

__all__ = [
    "REGISTRY",
    "BadInput",
    "Backend",
    "CheckResult",
    "Compiled",
    "Domain",
    "Kernel",
    "Served",
    "SymbenchError",
    "Tolerance",
    "Unavailable",
    "Unsupported",
    "__version__",
    "backend_ids",
    "catalog",
    "check_matrix",
    "check_one",
    "compile",
    "get_backend",
    "get_kernel",
    "load_kernels_file",
    "make_inputs",
]
