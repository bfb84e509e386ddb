"""Deterministic inputs from (domain, size, dtype, seed): same arguments, same bytes, anywhere."""

from __future__ import annotations

import hashlib

import numpy as np

from .errors import BadInput
from .kernels.core import DTYPES, Domain, Kernel

DEFAULT_SEED = 20261123


def _check_dtype(dtype: str) -> np.dtype:
    if dtype not in DTYPES:
        raise BadInput(f"unknown dtype {dtype!r}; known: {', '.join(DTYPES)}")
    return np.dtype(dtype)


def make_input(domain: Domain, size: int, dtype: str, seed: int, index: int = 0) -> np.ndarray:
    """One argument's values: ``domain.special`` first (exactly), then seeded draws.

    ``index`` (the argument's position) decorrelates the arguments of one kernel. PCG64
    streams from a ``SeedSequence`` are specified by NumPy, so the values do not depend on
    the machine.
    """
    dt = _check_dtype(dtype)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, index])))
    if domain.scale == "log":
        values = np.exp(rng.uniform(np.log(domain.lo), np.log(domain.hi), size))
    else:
        values = rng.uniform(domain.lo, domain.hi, size)
    values = values.astype(dt)
    # Rounding to float32 can step just outside the domain; keep inputs inside it.
    np.clip(values, dt.type(domain.lo), dt.type(domain.hi), out=values)
    nspecial = min(len(domain.special), size)
    values[:nspecial] = np.asarray(domain.special[:nspecial], dtype=dt)
    return values


def make_inputs(
    kernel: Kernel, size: int, dtype: str, seed: int = DEFAULT_SEED
) -> list[np.ndarray]:
    """One array per kernel argument, in call order, all of ``size`` elements and ``dtype``."""
    return [make_input(d, size, dtype, seed, i) for i, d in enumerate(kernel.domains)]


def inputs_hash(arrays: list[np.ndarray]) -> str:
    """sha256 over the dtype, shape and bytes of each array, in order."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()
