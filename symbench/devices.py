"""Device discovery and fingerprints: what a number was measured on.

The CPU part reads the OS (no optional library). GPU fields come from nvidia-ml-py
(``pynvml``) when it is installed and a driver answers; JAX's own devices (including TPUs)
are listed only if JAX is already imported, so discovery never imports an optional backend.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from .backends import backend_ids, get_backend


def _cpuinfo() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() not in info:
                info[key.strip()] = value.strip()
    except OSError:
        pass
    return info


def _memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if hasattr(os, "sysconf"):
        try:
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError):
            pass
    return None


def cpu_fingerprint() -> dict[str, Any]:
    info = _cpuinfo()
    flags = sorted(set(info.get("flags", info.get("Features", "")).split()))
    return {
        "model": info.get("model name") or platform.processor() or platform.machine(),
        "machine": platform.machine(),
        "cores_logical": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "flags": flags,
        "memory_bytes": _memory_bytes(),
        "os": platform.platform(),
    }


def gpu_fingerprints() -> list[dict[str, Any]]:
    """NVIDIA GPUs via NVML, or an empty list when there is none (or no pynvml)."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except Exception:
        return []
    gpus = []
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        cuda = pynvml.nvmlSystemGetCudaDriverVersion()
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(h)
            gpu = {
                "id": f"gpu:{i}",
                "name": pynvml.nvmlDeviceGetName(h),
                "uuid": pynvml.nvmlDeviceGetUUID(h),
                "compute_capability": f"{major}.{minor}",
                "memory_bytes": pynvml.nvmlDeviceGetMemoryInfo(h).total,
                "driver": driver,
                "cuda_driver": f"{cuda // 1000}.{cuda % 1000 // 10}",
            }
            try:
                gpu["sm_clock_max_mhz"] = pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_SM)
                gpu["mem_clock_max_mhz"] = pynvml.nvmlDeviceGetMaxClockInfo(
                    h, pynvml.NVML_CLOCK_MEM
                )
            except Exception:
                pass
            gpus.append(gpu)
    finally:
        pynvml.nvmlShutdown()
    return gpus


def fingerprint() -> dict[str, Any]:
    """The machine and its devices, as stored in run records: host, CPU, NVIDIA GPUs, and
    what each registered backend adds (``Backend.device_fingerprint``, e.g. JAX's devices)."""
    fp: dict[str, Any] = {
        "hostname": platform.node(),
        "cpu": cpu_fingerprint(),
        "gpus": gpu_fingerprints(),
    }
    for backend_id in backend_ids():
        fp.update(get_backend(backend_id).device_fingerprint())
    return fp


def device_summary(fp: dict[str, Any], device: str = "cpu") -> str:
    """A one-line name for a device in a fingerprint, e.g. the CPU model."""
    if device == "cpu":
        return f"{fp['cpu']['model']} ({fp['cpu']['cores_logical']} cores)"
    for gpu in fp.get("gpus", []):
        if gpu["id"] == device:
            return gpu["name"]
    return device
