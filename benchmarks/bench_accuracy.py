"""asv: each backend's math library per function family (``symbench accuracy``), so that a
library upgrade that changes the last bits shows up in asv's history like a slowdown does."""

from symbench import get_backend
from symbench.accuracy import DEFAULT_POINTS, FAMILIES, survey

from .common import BACKENDS, DEVICES, DTYPES


class MathLibrary:
    """Max error in ULPs over a family's probes (exact inputs, mpmath truth)."""

    params = (list(FAMILIES), BACKENDS, DEVICES, list(DTYPES))
    param_names = ["family", "backend", "device", "dtype"]
    timeout = 600

    def setup(self, family, backend, device, dtype):
        results = survey([family], [get_backend(backend)], [dtype], [device], points=DEFAULT_POINTS)
        measured = [r.max_ulp for r in results if r.status == "measured"]
        if not measured or len(measured) < len(results):  # asv's way to skip: say why
            raise NotImplementedError(next(r.reason for r in results if r.status != "measured"))
        self.max_ulp = max(measured)

    def track_max_ulp(self, family, backend, device, dtype):
        return self.max_ulp

    track_max_ulp.unit = "ulp"
