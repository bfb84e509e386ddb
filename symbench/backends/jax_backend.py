"""``jax``: ``sympy.lambdify(modules="jax")`` under ``jax.jit`` (XLA fuses the expression).

Inputs are placed on the device first and results are waited for with
``block_until_ready``. 64-bit mode is switched on when the backend loads so float64 is
float64; float32 inputs stay float32 (Python constants are weakly typed).
"""

from __future__ import annotations

import os
import sys

from ..cache import cache_dir
from ..errors import Unsupported
from ..kernels.core import Kernel
from ..roofline import jax_bandwidth
from .base import Backend, Compiled
from .codegen import lambdified_source, lambdify_checked


def _jax():
    # symbench runs JAX beside CuPy in one process: JAX's default, taking 75 % of a GPU's
    # memory when it first touches it, would leave CuPy too little at 10^8 elements. Allocate
    # on demand unless the user chose otherwise (recorded with the thread settings).
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import jax

    jax.config.update("jax_enable_x64", True)
    if not jax.config.jax_compilation_cache_dir:  # keep a user's own cache setting
        # JAX's persistent compilation cache, for every compile (not only slow ones).
        jax.config.update("jax_compilation_cache_dir", str(cache_dir("jax")))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    return jax


def special_functions() -> dict:
    """SymPy function names lambdify's JAX printer leaves to Python's scalar ``math``."""
    import jax.scipy.special as jss

    return {"erf": jss.erf, "erfc": jss.erfc, "gamma": jss.gamma, "loggamma": jss.gammaln}


class JaxBackend(Backend):
    id = "jax"
    library = "jax"
    requires = ("jax", "jaxlib")
    device_kinds = ("cpu", "gpu", "tpu")
    threaded = True
    packages = ("jax", "jaxlib")
    # JAX's CUDA plugin pins jax to its own version; pip resolves the pair cleanly on Linux
    # (checked with `pip install --dry-run ".[gpu]"`), and no plugin exists for other systems.
    requirements = {"": ("jax[cpu]>=0.4.30",), "gpu": ("jax[cuda12]; sys_platform == 'linux'",)}
    thread_env = ("XLA_FLAGS", "XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION")
    export_kind = "jax-jit"
    export_modules = ("jax.numpy", "jax.scipy.special", "jax.lax", "jax", "math")
    export_requires = ("numpy", "jax", "jaxlib")

    def export_options(self, compiled: Compiled, kernel: Kernel) -> dict:
        return {
            "compiles_on_load": True,
            "note": "jax.jit compiles on the first call (per input shape); float64 artifacts "
            "switch on jax_enable_x64",
        }

    def device_fingerprint(self) -> dict:
        if "jax" not in sys.modules:
            return {"jax_devices": []}
        jax = sys.modules["jax"]
        try:
            found = [
                {"id": f"{d.platform}:{d.id}", "platform": d.platform, "kind": d.device_kind}
                for d in jax.devices()
            ]
        except Exception:
            found = []
        return {"jax_devices": found}

    def measure_bandwidth(self, device: str, **kwargs) -> dict | None:
        if device == "cpu" or device not in self.devices():
            return None
        return jax_bandwidth(device, **kwargs)

    def check_available(self) -> None:
        super().check_available()
        _jax()
        import jax.numpy  # noqa: F401  (imported here, not inside a timed compile)

    def devices(self) -> list[str]:
        if self.unavailable_reason():
            return ["cpu"]
        jax = _jax()
        found = []
        for platform in ("cpu", "gpu", "tpu"):
            try:
                devs = jax.devices(platform)
            except RuntimeError:  # no such platform on this machine
                continue
            found += ["cpu"] if platform == "cpu" else [f"{platform}:{d.id}" for d in devs]
        return found

    def _device(self, device: str):
        jax = _jax()
        platform, _, index = device.partition(":")
        try:
            return jax.devices(platform)[int(index or 0)]
        except (RuntimeError, IndexError, ValueError):
            raise Unsupported(f"jax sees no device {device!r}") from None

    def _compile(self, kernel: Kernel, dtype: str, device: str) -> Compiled:
        jax = _jax()
        dev = self._device(device)
        fn = lambdify_checked(kernel, [special_functions(), "jax"], self.id)
        jitted = jax.jit(fn)

        def to_device(arrays):
            return [jax.device_put(a, dev) for a in arrays]

        return self._result(
            kernel,
            dtype,
            device,
            jitted,
            lambdified_source(fn),
            build={
                "jit": "jax.jit",
                "x64": bool(jax.config.jax_enable_x64),
                "device_kind": dev.device_kind,
                "platform": dev.platform,
            },
            to_device=to_device,
            sync=lambda out: out.block_until_ready(),
        )
