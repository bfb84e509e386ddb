"""Parameters for the asv suite, from the registries (strings, as asv stores them).

Every benchmark goes through ``symbench.bench.prepare``: the same compile, equivalence check,
device placement and warm-up as ``symbench run``; a pair that is unavailable, unsupported or
not correct is skipped the asv way (``NotImplementedError`` from ``setup``).

The matrix can be narrowed without editing code (asv's ``-b`` selects benchmarks, not
parameters): ``SYMBENCH_ASV_KERNELS``, ``SYMBENCH_ASV_BACKENDS``, ``SYMBENCH_ASV_DEVICES``
and ``SYMBENCH_ASV_SIZES`` take comma-separated values. Importing this module also imports
the available backends' libraries, so that with ``--launch-method forkserver`` they are
loaded once, not once per benchmark.
"""

import os

from symbench import Unavailable, Unsupported, backend_ids, catalog, get_backend
from symbench.bench import prepare
from symbench.kernels.core import DTYPES


def _from_env(name, default):
    value = os.environ.get(name, "")
    return [v.strip() for v in value.split(",") if v.strip()] or list(default)


KERNELS = _from_env("SYMBENCH_ASV_KERNELS", catalog())
BACKENDS = _from_env("SYMBENCH_ASV_BACKENDS", backend_ids())
DEVICES = _from_env("SYMBENCH_ASV_DEVICES", ["cpu"])
SIZES = _from_env("SYMBENCH_ASV_SIZES", ["1000", "1000000"])
MEMORY_SIZE = SIZES[-1]

for _backend in BACKENDS:
    get_backend(_backend).unavailable_reason()  # imports the library if it is installed


def prepared_or_skip(kernel, backend, device, dtype, size):
    try:
        return prepare(kernel, backend, dtype, int(size), device)
    except (Unavailable, Unsupported) as exc:
        raise NotImplementedError(str(exc)) from None


__all__ = ["BACKENDS", "DEVICES", "DTYPES", "KERNELS", "MEMORY_SIZE", "SIZES", "prepared_or_skip"]
