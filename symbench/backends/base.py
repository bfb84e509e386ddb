"""The Backend protocol and the Compiled result every backend returns."""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..errors import Unavailable, Unsupported
from ..kernels.core import DTYPES, Kernel
from .codegen import BASE, Variant, with_float_constants


@dataclass
class Compiled:
    """A kernel compiled by one backend for one dtype and device.

    ``fn(*device_inputs)`` evaluates the kernel on 1-D arrays of equal length; use
    ``to_device`` for the inputs, ``sync`` to wait for an asynchronous result and
    ``to_host`` to get a NumPy array back. ``source`` is the generated code; ``build``
    holds the recipe (compiler, flags, cache key, cache hit) needed to rebuild it.
    """

    backend: str
    kernel: str
    dtype: str
    device: str
    fn: Callable[..., Any]
    source: str
    language: str = "python"
    build: dict[str, Any] = field(default_factory=dict)
    compile_s: float = 0.0
    to_device: Callable[[Sequence[np.ndarray]], list[Any]] = list
    sync: Callable[[Any], Any] = lambda out: out
    to_host: Callable[[Any], np.ndarray] = np.asarray
    # Values the backend passes after the kernel's arguments (numexpr's float32 constants):
    # an export's loader passes the same ones.
    extra_args: tuple[float, ...] = ()
    # ``fn_out(*device_inputs, out)`` writes into a caller's (device) array and returns it,
    # for backends that can; timing uses it so a fresh output's page faults are not timed
    # as the kernel (None: the backend always allocates its result).
    fn_out: Callable[..., Any] | None = None

    def __call__(self, *inputs: np.ndarray) -> np.ndarray:
        """Host arrays in, host array out (device transfer and sync included)."""
        out = self.sync(self.fn(*self.to_device(inputs)))
        return np.asarray(self.to_host(out))


def writing_into(write: Callable[..., Any], dtype: str) -> tuple[Callable, Callable]:
    """(fn, fn_out) for a compiled loop ``write(*arrays, out)`` that fills its last argument:
    ``fn`` allocates the output (what callers get), ``fn_out`` writes into the caller's
    (what timing uses, ``Compiled.fn_out``)."""
    np_dtype = np.dtype(dtype)

    def fn(*arrays):
        out = np.empty(arrays[0].shape[0], dtype=np_dtype)
        write(*arrays, out)
        return out

    def fn_out(*arrays_and_out):
        write(*arrays_and_out)
        return arrays_and_out[-1]

    return fn, fn_out


class Backend:
    """Base class: subclasses set ``id``, ``library`` and implement ``_compile``.

    Every fact about a backend lives on its class; the rest of symbench reads it from the
    registry (provenance, timing, export, setup.py, the accuracy survey, device discovery).
    A new backend overrides only the facts that differ from these defaults.
    """

    id: ClassVar[str]
    #: the distribution whose version is reported beside the backend's results
    library: ClassVar[str]
    #: modules imported (on first use, never by ``import symbench``) to decide availability
    requires: ClassVar[tuple[str, ...]] = ()
    dtypes: ClassVar[tuple[str, ...]] = DTYPES
    #: device kinds it can run on (``cpu``, ``gpu``, ``tpu``); ``devices()`` says which exist
    device_kinds: ClassVar[tuple[str, ...]] = ("cpu",)
    #: whether it spreads one call over several CPU threads
    threaded: ClassVar[bool] = False
    #: distributions whose versions every run records (provenance.package_versions)
    packages: ClassVar[tuple[str, ...]] = ()
    #: pip requirements per setup.py extra ("" is the plain install). setup.py reads this
    #: dict without importing symbench, so it must stay a literal.
    requirements: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: environment variables that set its threads or device memory (recorded in every run)
    thread_env: ClassVar[tuple[str, ...]] = ()
    #: the environment variable that sets how many threads it uses (``--threads``), if any
    threads_var: ClassVar[str | None] = None
    #: how ``symbench export`` ships it: a load kind the standalone loader knows
    #: (``python``, ``numba-vectorize``, ``jax-jit``, ``cython``, ``ufunc-extension``), or
    #: None when it cannot be exported
    export_kind: ClassVar[str | None] = None
    #: modules an exported source's free globals are imported from (first match wins)
    export_modules: ClassVar[tuple[str, ...]] = ()
    #: distributions an exported kernel needs at run time
    export_requires: ClassVar[tuple[str, ...]] = ("numpy",)
    #: for a code-generation variant (``cython-fastmath``), the backend it varies; variants
    #: run when asked for by name or with ``--variants``, and the summary compares them with
    #: their base
    variant_of: ClassVar[str | None] = None
    #: how it writes code (CSE, integer powers, fast-math), recorded in every build
    variant: ClassVar[Variant] = BASE

    def export_options(self, compiled: Compiled, kernel: Kernel) -> dict[str, Any]:
        """Extra load instructions for an export's manifest (numba's signatures, a note on
        when the loader compiles); the defaults load a ready function."""
        return {}

    def accuracy_of(self) -> str:
        """The backend id whose measured math-library accuracy (``math_accuracy.toml``) this
        one's results are judged with: a variant that calls the same math functions as its
        base shares its base's entries; a fast-math build is measured on its own."""
        if self.variant_of and not self.variant.fast_math:
            return self.variant_of
        return self.id

    def set_threads(self, n: int) -> None:
        """Use ``n`` threads from now on (``--threads``): sets ``threads_var`` for a library
        not yet loaded; backends whose library can change it at run time override this."""
        if self.threads_var:
            os.environ[self.threads_var] = str(n)

    def runtime_settings(self) -> dict[str, Any]:
        """Thread settings its library uses now, when that library is already imported
        (recorded in every run); never imports it."""
        return {}

    def device_fingerprint(self) -> dict[str, Any]:
        """Fields this backend adds to the machine fingerprint (JAX: the devices it sees),
        when its library is already imported; never imports it."""
        return {}

    def measure_bandwidth(self, device: str, **kwargs: Any) -> dict[str, Any] | None:
        """The memory bandwidth of a non-CPU ``device`` measured with this library, or None
        when it cannot measure there (see ``roofline.bandwidth``)."""
        return None

    def version(self) -> str | None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version(self.library)
        except PackageNotFoundError:
            return None

    def check_available(self) -> None:
        """Raise ``Unavailable(reason)`` when this backend cannot run on this machine."""
        for module in self.requires:
            try:
                importlib.import_module(module)
            except Exception as exc:  # ImportError, or a library that fails while loading
                raise Unavailable(f"cannot import {module}: {exc}") from None

    def unavailable_reason(self) -> str | None:
        try:
            self.check_available()
        except Unavailable as exc:
            return str(exc)
        return None

    def devices(self) -> list[str]:
        """Device ids this backend can run on here (``cpu``, ``gpu:0`` ...)."""
        return ["cpu"]

    def describe(self) -> dict[str, Any]:
        """What ``symbench backends`` shows: id, version, devices, availability, strategy."""
        reason = self.unavailable_reason()
        doc = (type(self).__doc__ or sys.modules[type(self).__module__].__doc__ or "").strip()
        return {
            "id": self.id,
            "library": self.library,
            "version": self.version(),
            "available": reason is None,
            "reason": reason or "",
            "devices": self.devices() if reason is None else [],
            "dtypes": list(self.dtypes),
            "device_kinds": list(self.device_kinds),
            "threaded": self.threaded,
            "variant_of": self.variant_of,
            "strategy": " ".join(doc.split()),
        }

    def compile(self, kernel: Kernel, dtype: str, device: str = "cpu") -> Compiled:
        """Compile ``kernel`` for ``dtype`` on ``device``; time it into ``compile_s``.

        Raises ``Unavailable`` (library, compiler or device missing) or ``Unsupported``
        (this backend cannot express the kernel, dtype or device). Backends see the
        kernel with its arguments renamed (``Kernel.for_codegen``), so no user name can
        collide with a keyword or with the generated code's own names.

        ``compile_s`` is the backend's own cost: the expression preparation every backend
        shares (that renaming, exact constants made floats) is done once per kernel, before
        the clock starts, so it is not charged to whichever backend happens to come first.
        """
        self.check_available()
        if dtype not in self.dtypes:
            raise Unsupported(f"{self.id} does not support {dtype}")
        if device not in self.devices():
            raise Unsupported(f"{self.id} has no device {device!r} here (has {self.devices()})")
        codegen = kernel.for_codegen()
        with_float_constants(codegen.expr)
        start = time.perf_counter()
        compiled = self._compile(codegen, dtype, device)
        compiled.compile_s = time.perf_counter() - start
        return compiled

    def _compile(self, kernel: Kernel, dtype: str, device: str) -> Compiled:
        raise NotImplementedError

    def prepare(self, kernels: list[Kernel], dtypes: list[str]) -> None:
        """Build ahead what is cheaper to build together (Cython: one module for all the
        kernels its cache lacks), before ``compile`` is called for each. Nothing here may
        be needed: ``compile`` builds and reports whatever this left out."""

    def _result(
        self,
        kernel: Kernel,
        dtype: str,
        device: str,
        fn: Callable[..., Any],
        source: str,
        **kw: Any,
    ) -> Compiled:
        """A Compiled for this backend (``kw``: language, build, to_device, sync, to_host,
        extra_args, fn_out)."""
        return Compiled(self.id, kernel.name, dtype, device, fn, source, **kw)
