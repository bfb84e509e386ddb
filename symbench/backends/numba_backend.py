"""``numba`` / ``numba-parallel``: the scalar ``lambdify(modules="math")`` function turned
into a NumPy ufunc by ``numba.vectorize`` (serial, or ``target="parallel"`` threads).

Only functions Python's ``math`` module has (erf, gamma; no Bessel) can be compiled.
"""

from __future__ import annotations

from typing import ClassVar

from ..kernels.core import Kernel
from .base import Backend, Compiled
from .codegen import lambdified_source, lambdify_checked


class NumbaBackend(Backend):
    id = "numba"
    library = "numba"
    requires = ("numba",)
    target: ClassVar[str] = "cpu"

    def _compile(self, kernel: Kernel, dtype: str, device: str) -> Compiled:
        import numba

        scalar = lambdify_checked(kernel, "math", self.id, arrays=False)
        signature = f"{dtype}({', '.join([dtype] * len(kernel.args))})"
        try:
            ufunc = numba.vectorize([signature], target=self.target)(scalar)
        except numba.core.errors.TypingError as exc:
            from ..errors import Unsupported

            raise Unsupported(f"numba cannot type the kernel: {str(exc).splitlines()[0]}") from None
        return Compiled(
            backend=self.id,
            kernel=kernel.name,
            dtype=dtype,
            device=device,
            fn=ufunc,
            source=lambdified_source(scalar),
            build={
                "decorator": f"numba.vectorize([{signature!r}], target={self.target!r})",
                "threading_layer": numba.config.THREADING_LAYER,
                "threads": numba.config.NUMBA_NUM_THREADS,
            },
        )


class NumbaParallelBackend(NumbaBackend):
    id = "numba-parallel"
    target = "parallel"
