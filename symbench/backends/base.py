"""The Backend protocol and the Compiled result every backend returns."""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..errors import Unavailable, Unsupported
from ..kernels.core import DTYPES, Kernel


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

    def __call__(self, *inputs: np.ndarray) -> np.ndarray:
        """Host arrays in, host array out (device transfer and sync included)."""
        out = self.sync(self.fn(*self.to_device(inputs)))
        return np.asarray(self.to_host(out))


class Backend:
    """Base class: subclasses set ``id``, ``library`` and implement ``_compile``.

    ``library`` is the distribution whose version is reported; ``requires`` are the modules
    imported (on first use, never by ``import symbench``) to decide availability.
    """

    id: ClassVar[str]
    library: ClassVar[str]
    requires: ClassVar[tuple[str, ...]] = ()
    dtypes: ClassVar[tuple[str, ...]] = DTYPES

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
            "strategy": " ".join(doc.split()),
        }

    def compile(self, kernel: Kernel, dtype: str, device: str = "cpu") -> Compiled:
        """Compile ``kernel`` for ``dtype`` on ``device``; time it into ``compile_s``.

        Raises ``Unavailable`` (library, compiler or device missing) or ``Unsupported``
        (this backend cannot express the kernel, dtype or device). Backends see the
        kernel with its arguments renamed (``Kernel.for_codegen``), so no user name can
        collide with a keyword or with the generated code's own names.
        """
        self.check_available()
        if dtype not in self.dtypes:
            raise Unsupported(f"{self.id} does not support {dtype}")
        if device not in self.devices():
            raise Unsupported(f"{self.id} has no device {device!r} here (has {self.devices()})")
        start = time.perf_counter()
        compiled = self._compile(kernel.for_codegen(), dtype, device)
        compiled.compile_s = time.perf_counter() - start
        return compiled

    def _compile(self, kernel: Kernel, dtype: str, device: str) -> Compiled:
        raise NotImplementedError

    def _result(
        self,
        kernel: Kernel,
        dtype: str,
        device: str,
        fn: Callable[..., Any],
        source: str,
        **kw: Any,
    ) -> Compiled:
        """A Compiled for this backend (``kw``: language, build, to_device, sync, to_host)."""
        return Compiled(self.id, kernel.name, dtype, device, fn, source, **kw)
