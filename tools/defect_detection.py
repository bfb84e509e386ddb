"""How often the judge catches deliberately broken backends (``symbench.defects``).

Each defect runs on every catalog kernel and on the ill-conditioned kernels of
``tests/test_conditioning.py`` in both dtypes (float32 arithmetic for float64 only), and the
table says on how many pairs it was detected (``fail``) out of those it applies to (not
``unsupported``). ``python tools/defect_detection.py [--json]``; docs/measured.md's
section quotes its output.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from symbench import Kernel  # noqa: E402
from symbench.defects import (  # noqa: E402
    DroppedTerm,
    Float32Arithmetic,
    NaNInjected,
    SloppyExp,
    WrongSign,
)
from symbench.equivalence import check_one  # noqa: E402
from symbench.kernels import catalog  # noqa: E402
from tests.test_conditioning import ILL_CONDITIONED  # noqa: E402

EXTRA = {
    "small_term": ("x**3 + x + exp(x)/1000000", {"x": (1, 2)}),
    "exp_only": ("exp(x)", {"x": (-5, 5)}),
    "x_exp": ("x*exp(x)", {"x": (0.5, 5)}),
}


def kernels() -> list[Kernel]:
    found = list(catalog().values())
    for name, (expr, domains) in {**ILL_CONDITIONED, **EXTRA}.items():
        found.append(Kernel.from_expr(expr, domains, name=name))
    return found


def main() -> int:
    defects = {
        "float32 arithmetic for float64": (Float32Arithmetic(), ["float64"]),
        "smallest term of a sum dropped": (DroppedTerm(), ["float64", "float32"]),
        "exp 8-16 ULP off": (SloppyExp(8), ["float64", "float32"]),
        "NaN at every 97th point": (NaNInjected(), ["float64", "float32"]),
        "sign flipped away from roots": (WrongSign(), ["float64", "float32"]),
    }
    rows = []
    for label, (backend, dtypes) in defects.items():
        applied = caught = 0
        missed = []
        for k in kernels():
            for dt in dtypes:
                res = check_one(k, backend, dt, accuracy={})
                if res.status == "unsupported":
                    continue
                applied += 1
                if res.status == "fail":
                    caught += 1
                else:
                    missed.append(f"{k.name}/{dt}")
        rows.append({"defect": label, "pairs": applied, "caught": caught, "missed": missed})
    if "--json" in sys.argv:
        json.dump(rows, sys.stdout, indent=2)
        print()
    else:
        for r in rows:
            miss = f"  missed: {', '.join(r['missed'])}" if r["missed"] else ""
            print(f"{r['defect']:34s} {r['caught']:3d} of {r['pairs']:3d}{miss}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
