"""``numpy``: ``sympy.lambdify`` to NumPy (SciPy for special functions), the baseline.

Every speedup is measured against this backend. One NumPy call per operation, so each
intermediate result is a full temporary array.
"""

from __future__ import annotations

import importlib.util

from ..kernels.core import Kernel
from .base import Backend, Compiled
from .codegen import lambdified_source, lambdify_checked


class NumpyBackend(Backend):
    id = "numpy"
    library = "numpy"
    requires = ("numpy",)
    export_kind = "python"
    export_modules = ("numpy", "scipy.special", "scipy", "math")

    def check_available(self) -> None:
        super().check_available()
        if importlib.util.find_spec("scipy"):  # import once here, not inside a timed compile
            import scipy.special  # noqa: F401

    def _compile(self, kernel: Kernel, dtype: str, device: str) -> Compiled:
        # lambdify's own default when SciPy is present: scipy.special fills NumPy's gaps.
        modules = ["scipy", "numpy"] if importlib.util.find_spec("scipy") else ["numpy"]
        fn = lambdify_checked(kernel, modules, self.id)
        return self._result(
            kernel,
            dtype,
            device,
            fn,
            lambdified_source(fn),
            build={"printer": "NumPyPrinter", "modules": modules},
        )
