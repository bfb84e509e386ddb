"""Parameters for the asv suite, from the registries (strings, as asv stores them).

Every benchmark goes through ``symbench.bench.prepare``: the same compile, equivalence check,
device placement and warm-up as ``symbench run``; a pair that is unavailable, unsupported or
not correct is skipped the asv way (``NotImplementedError`` from ``setup``).
"""

from symbench import Unavailable, Unsupported, backend_ids, catalog
from symbench.bench import prepare
from symbench.kernels.core import DTYPES

KERNELS = list(catalog())
BACKENDS = backend_ids()
DEVICES = ["cpu"]
SIZES = ["1000", "1000000"]


def prepared_or_skip(kernel, backend, device, dtype, size):
    try:
        return prepare(kernel, backend, dtype, int(size), device)
    except (Unavailable, Unsupported) as exc:
        raise NotImplementedError(str(exc)) from None


__all__ = ["BACKENDS", "DEVICES", "DTYPES", "KERNELS", "SIZES", "prepared_or_skip"]
