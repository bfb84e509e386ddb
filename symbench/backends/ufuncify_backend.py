"""``ufuncify``: SymPy's ``autowrap.ufuncify`` (numpy backend) - C code plus a generated
NumPy ufunc wrapper, built with setuptools.

Builds go into a content-addressed cache; a hit imports the built module from the cache
without running SymPy again. SymPy changes the working directory and ``sys.path`` while it
builds and registers ``wrapper_module_N`` in ``sys.modules``; all three are restored here.
The generated ufunc is float64-only, so float32 is Unsupported (it would be upcast).
"""

from __future__ import annotations

import os
import sys
import threading
import time

import sympy as sp

from ..errors import Unsupported
from ..kernels.core import Kernel
from .base import Backend, Compiled
from .cbuild import BuildCache, find_extension, load_extension, recipe, require_c_compiler
from .codegen import c_function, source_hash, with_float_constants

_BUILD_LOCK = threading.Lock()
_FORMAT = "2"  # bump when the manifest changes shape (2: build_s)


class UfuncifyBackend(Backend):
    id = "ufuncify"
    library = "sympy"
    requires = ("sympy", "numpy", "setuptools")
    dtypes = ("float64",)
    packages = ("setuptools",)
    requirements = {"": ("setuptools>=64",)}
    export_kind = "ufunc-extension"

    def check_available(self) -> None:
        super().check_available()
        require_c_compiler()

    def compile(self, kernel, dtype, device="cpu"):
        if dtype != "float64":
            self.check_available()
            raise Unsupported(
                "sympy's ufuncify (numpy backend) generates float64-only ufuncs; "
                f"{dtype} inputs would be computed in float64"
            )
        return super().compile(kernel, dtype, device)

    def _compile(self, kernel: Kernel, dtype: str, device: str) -> Compiled:
        import numpy as np

        build = recipe([]) | {"sympy": sp.__version__, "numpy": np.__version__}
        # Keyed by the generator's input (expression, argument order) and the generator's
        # and compiler's versions, so a hit needs no code generation at all.
        key = source_hash(
            _FORMAT, sp.srepr(kernel.expr), repr(kernel.arg_names), repr(sorted(build.items()))
        )
        cache = BuildCache(self.id)
        hit = cache.lookup(key)
        start = time.perf_counter()
        if hit is None:
            c_function(kernel, dtype, "probe")  # Unsupported when C99 cannot express it
            expr = with_float_constants(kernel.expr)
            staging = cache.staging()
            module = self._build(kernel.args, expr, staging)
            cold_s = time.perf_counter() - start
            final = cache.publish(
                staging, key, {"module": module, "build": build, "build_s": cold_s}
            )
        else:
            final, manifest = hit
            module = manifest["module"]
            cold_s = manifest.get("build_s")
        path = find_extension(final, module)
        if path is None:
            raise RuntimeError(f"ufuncify build in {final} produced no extension module")
        mod = load_extension(path, module)
        ufunc = next(v for v in vars(mod).values() if isinstance(v, np.ufunc))
        source = (
            "\n".join(p.read_text() for p in sorted(final.glob("wrapped_code_*.[ch]")))
            + "\n"
            + (final / f"{module}.c").read_text()
        )
        return self._result(
            kernel,
            dtype,
            device,
            ufunc,
            source,
            language="c",
            fn_out=lambda *arrays_and_out: ufunc(*arrays_and_out[:-1], out=arrays_and_out[-1]),
            build=build
            | {
                "cache_key": key,
                "cache_hit": hit is not None,
                "cold_build_s": cold_s,
                "build_s": time.perf_counter() - start,
            },
        )

    @staticmethod
    def _build(args, expr, directory) -> str:
        """Run ufuncify in ``directory``; return the module name it built."""
        from sympy.utilities.autowrap import ufuncify

        with _BUILD_LOCK:  # ufuncify chdirs, which is process-wide: one build at a time
            return UfuncifyBackend._build_locked(args, expr, directory, ufuncify)

    @staticmethod
    def _build_locked(args, expr, directory, ufuncify) -> str:
        cwd, path, modules = os.getcwd(), list(sys.path), set(sys.modules)
        try:
            ufunc = ufuncify(args, expr, backend="numpy", tempdir=str(directory))
        finally:
            os.chdir(cwd)
            sys.path[:] = path
            for name in set(sys.modules) - modules:
                if name.startswith("wrapper_module_"):
                    del sys.modules[name]
        return ufunc.__name__
