"""Cold build time of a compiling backend: each kernel compiled with an empty build cache.

    python tools/cold_build.py BACKEND [KERNEL ...]     (default kernels: hydrogen_r31,
                                                          black_scholes, gelu; float64)

Prints one line per kernel. Measure with nothing else running (docs/measured.md).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

os.environ["SYMBENCH_CACHE"] = tempfile.mkdtemp()  # before symbench reads it

from symbench import get_backend, get_kernel  # noqa: E402


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    backend, kernels = argv[0], argv[1:] or ["hydrogen_r31", "black_scholes", "gelu"]
    for name in kernels:
        start = time.perf_counter()
        get_backend(backend).compile(get_kernel(name), "float64")
        print(f"{backend} {name}: {time.perf_counter() - start:.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
