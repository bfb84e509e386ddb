"""asv benchmarks: steady-state evaluation, peak memory, compile time and max ULP error."""

from .common import BACKENDS, DEVICES, DTYPES, KERNELS, MEMORY_SIZE, SIZES, prepared_or_skip


class Evaluate:
    """Seconds per call with inputs on the device and the device synchronized."""

    params = (KERNELS, BACKENDS, DEVICES, list(DTYPES), SIZES)
    param_names = ["kernel", "backend", "device", "dtype", "size"]
    timeout = 600

    def setup(self, kernel, backend, device, dtype, size):
        self.prepared = prepared_or_skip(kernel, backend, device, dtype, size)

    def time_evaluate(self, kernel, backend, device, dtype, size):
        self.prepared.call()


class Memory:
    """Peak resident memory of a process evaluating at the largest size."""

    params = (KERNELS, BACKENDS, DEVICES, list(DTYPES))
    param_names = ["kernel", "backend", "device", "dtype"]
    timeout = 600

    def setup(self, kernel, backend, device, dtype):
        self.prepared = prepared_or_skip(kernel, backend, device, dtype, MEMORY_SIZE)

    def peakmem_evaluate(self, kernel, backend, device, dtype):
        self.prepared.call()


class Quality:
    """Compile time (cold where the build cache recorded it) and max error in ULPs."""

    params = (KERNELS, BACKENDS, DEVICES, list(DTYPES))
    param_names = ["kernel", "backend", "device", "dtype"]
    timeout = 600

    def setup(self, kernel, backend, device, dtype):
        self.prepared = prepared_or_skip(kernel, backend, device, dtype, "1000")

    def track_compile_seconds(self, kernel, backend, device, dtype):
        build = self.prepared.compiled.build
        return build.get("cold_build_s") or self.prepared.compile_s

    track_compile_seconds.unit = "seconds"

    def track_max_ulp(self, kernel, backend, device, dtype):
        return self.prepared.check.max_ulp

    track_max_ulp.unit = "ulp"
