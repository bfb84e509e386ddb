"""``symbench verify RUN``: rerun exactly what a record describes and say what reproduces.

Reproduced means: for every pair in the record the same status (a pass is still a pass,
judged afresh against the reference), the identical generated source (sha256) and identical
input bytes; and timings that agree with the record.

Timings compare the best sample (``min``, the least noisy estimator, as ``timeit``
recommends) of the rerun with the record's. Each comparison has a noise band
``max(floor, 3 * IQR / median)`` from the record's own samples (``floor`` 25 %); comparisons
outside it are listed. A single record measures only within-run noise, which on a shared
machine is far smaller than the run-to-run variation (measured on the 2-core development
VM: within-run relative IQR median 0.7 %, run-to-run min ratios 0.92-1.37 between the 5th
and 95th percentile over 180 comparisons), and a record holds hundreds of comparisons, so a
few will always fall outside any fixed band. The verdict is therefore on the whole: timings
reproduce when the geometric mean of the min ratios is within ``±mean_tolerance`` (10 %)
and at most ``max_outside`` (10 %) of the comparisons fall outside their band.
``strict=True`` (``--strict-timings``) fails on any comparison outside its band instead.
When something differs, the report lists what changed in the environment (versions,
machine, compiler).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .backends import REGISTRY, get_backend
from .equivalence import check_one
from .inputs import inputs_hash, make_inputs
from .kernels.storage import kernel_from_dict
from .records import text_sha256
from .records.provenance import collect, environment_changes
from .runner import Reporter, RunSettings, time_pair

DEFAULT_TIMING_FLOOR = 0.25
DEFAULT_MEAN_TOLERANCE = 0.10
DEFAULT_MAX_OUTSIDE = 0.10


@dataclass
class PairOutcome:
    kernel: str
    backend: str
    device: str
    dtype: str
    was: str
    now: str
    problems: list[str] = field(default_factory=list)
    timing_ratios: dict[int, float] = field(default_factory=dict)
    timing_outliers: list[str] = field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        return not self.problems


@dataclass
class VerifyReport:
    run_id: str
    pairs: list[PairOutcome]
    environment: list[str]
    input_problems: list[str]
    strict: bool = False
    mean_tolerance: float = DEFAULT_MEAN_TOLERANCE
    max_outside: float = DEFAULT_MAX_OUTSIDE

    @property
    def comparisons(self) -> int:
        return sum(len(p.timing_ratios) for p in self.pairs)

    @property
    def outside(self) -> int:
        return sum(len(p.timing_outliers) for p in self.pairs)

    @property
    def mean_ratio(self) -> float | None:
        ratios = [r for p in self.pairs for r in p.timing_ratios.values() if r > 0]
        return math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else None

    @property
    def timing_problems(self) -> list[str]:
        if not self.comparisons:
            return []
        if self.strict:
            return (
                [f"{self.outside} of {self.comparisons} timings outside their noise band"]
                if self.outside
                else []
            )
        problems = []
        mean = self.mean_ratio
        if mean is not None and not (
            1 / (1 + self.mean_tolerance) <= mean <= 1 + self.mean_tolerance
        ):
            problems.append(f"timings are x{mean:.2f} of the record's on (geometric) average")
        if self.outside > self.max_outside * self.comparisons:
            problems.append(
                f"{self.outside} of {self.comparisons} timings outside their noise band "
                f"(more than {self.max_outside:.0%})"
            )
        return problems

    @property
    def reproduced(self) -> bool:
        return (
            not self.input_problems
            and all(p.reproduced for p in self.pairs)
            and not self.timing_problems
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "reproduced": self.reproduced,
            "environment_changes": self.environment,
            "input_problems": self.input_problems,
            "timing_problems": self.timing_problems,
            "timing_comparisons": self.comparisons,
            "timing_outside_band": self.outside,
            "timing_mean_ratio": self.mean_ratio,
            "pairs": [
                {
                    "kernel": p.kernel,
                    "backend": p.backend,
                    "device": p.device,
                    "dtype": p.dtype,
                    "was": p.was,
                    "now": p.now,
                    "reproduced": p.reproduced,
                    "problems": p.problems,
                    "timing_outliers": p.timing_outliers,
                    "timing_ratios": {str(k): v for k, v in p.timing_ratios.items()},
                }
                for p in self.pairs
            ],
        }


def timing_band(t: dict[str, Any], floor: float) -> float:
    return max(floor, 3 * t["iqr_s"] / t["median_s"]) if t["median_s"] > 0 else floor


def verify(
    record: dict[str, Any],
    *,
    timings: bool = True,
    timing_floor: float = DEFAULT_TIMING_FLOOR,
    strict: bool = False,
    reporter: Reporter | None = None,
) -> VerifyReport:
    reporter = reporter or Reporter()
    s = record["settings"]
    settings = RunSettings(
        sizes=tuple(s["sizes"]),
        dtypes=tuple(s["dtypes"]),
        repeats=s["repeats"],
        min_sample_s=s["min_sample_s"],
        seed=s["seed"],
        check_size=s["check_size"],
    )
    kernels = {name: kernel_from_dict(d) for name, d in record["kernels"].items()}
    input_problems = []
    for key, digest in record.get("inputs", {}).items():
        name, dtype, size = key.rsplit("/", 2)
        if (
            name in kernels
            and inputs_hash(make_inputs(kernels[name], int(size), dtype, settings.seed)) != digest
        ):
            input_problems.append(f"inputs for {key} differ from the record")
    results = record["results"]
    reporter.phase("verify", len(results))
    pairs = []
    for r in results:
        p = PairOutcome(r["kernel"], r["backend"], r["device"], r["dtype"], r["status"], "?")
        pairs.append(p)
        reporter.advance(f"{r['kernel']} {r['backend']} {r['dtype']}")
        if r["backend"] not in REGISTRY:
            p.now = "unknown"
            p.problems.append(f"backend {r['backend']!r} does not exist in this symbench")
            continue
        backend = get_backend(r["backend"])
        now = check_one(
            kernels[r["kernel"]],
            backend,
            r["dtype"],
            r["device"],
            size=settings.check_size,
            seed=settings.seed,
        )
        p.now = now.status
        if now.status != r["status"]:
            p.problems.append(f"status {r['status']} -> {now.status} {now.reason}".strip())
        old_sha = r.get("source_sha256")
        if old_sha and now.source is not None and text_sha256(now.source) != old_sha:
            p.problems.append("generated source differs")
        if timings and r.get("timings") and now.status == "pass":
            timed = time_pair(
                kernels[r["kernel"]], backend, r["dtype"], r["device"], settings, bandwidth=None
            )
            new_by_size = {t["size"]: t for t in timed["timings"]}
            for old_t in r["timings"]:
                new_t = new_by_size.get(old_t["size"])
                if new_t is None:
                    continue
                ratio = new_t["min_s"] / old_t["min_s"]
                p.timing_ratios[old_t["size"]] = ratio
                band = timing_band(old_t, timing_floor)
                if not (1 / (1 + band) <= ratio <= 1 + band):
                    p.timing_outliers.append(
                        f"n={old_t['size']}: best {new_t['min_s']:.3g}s vs "
                        f"{old_t['min_s']:.3g}s (x{ratio:.2f}, noise band ±{band:.0%})"
                    )
    return VerifyReport(
        run_id=record["run_id"],
        pairs=pairs,
        environment=environment_changes(record["provenance"], collect()),
        input_problems=input_problems,
        strict=strict,
    )
