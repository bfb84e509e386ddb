"""One side of a two-environment gate: a process that compiles and times pairs on request.

``python -m symbench.gate.worker`` reads one JSON request per line on stdin and answers one
JSON line on stdout (its stderr is the coordinator's log of it). Each environment runs its
own worker with its own interpreter, packages and symbench, so the coordinator
(``symbench.gate.envs``) can sample two environments alternately with matching loop counts.

Requests (``op``):

- ``hello``: the worker's provenance (package versions, Python, compiler, symbench, git);
- ``load``: compile ``kernel`` (this side's catalog definition of that name, else the
  stored one sent along) with ``backend`` for ``dtype``/``device`` and make the inputs of
  ``size`` from ``seed``; ``check`` also judges it against the reference;
- ``calibrate``: the loop count that makes one sample last ``min_sample_s``;
- ``time``: one sample of ``loops`` calls, in seconds per call;
- ``quit``.

Every answer has ``ok``; a failure answers ``ok: false`` with ``error`` and the worker goes on.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from typing import Any

from ..backends import get_backend
from ..equivalence import check_one
from ..errors import first_line
from ..inputs import inputs_hash, make_inputs
from ..kernels import catalog
from ..kernels.storage import kernel_from_dict
from ..records.provenance import collect
from ..timing import device_call

PROTOCOL = 1


class Worker:
    def __init__(self) -> None:
        self.calls: dict[str, Any] = {}

    def hello(self, req: dict[str, Any]) -> dict[str, Any]:
        return {"protocol": PROTOCOL, "provenance": collect(["symbench.gate.worker"])}

    def load(self, req: dict[str, Any]) -> dict[str, Any]:
        name = req["kernel_name"]
        own = catalog().get(name)
        kernel = own if own is not None else kernel_from_dict(req["kernel"])
        backend = get_backend(req["backend"])
        compiled = backend.compile(kernel, req["dtype"], req["device"])
        out: dict[str, Any] = {"kernel_from": "catalog" if own is not None else "record"}
        if req.get("check"):
            verdict = check_one(kernel, backend, req["dtype"], req["device"],
                                seed=req["seed"], compiled=compiled)  # fmt: skip
            out["status"], out["reason"] = verdict.status, verdict.reason
        inputs = make_inputs(kernel, req["size"], req["dtype"], req["seed"])
        out["inputs_sha256"] = inputs_hash(inputs)
        self.calls[req["id"]] = device_call(compiled, inputs)
        self.calls[req["id"]]()  # warm
        return out

    def calibrate(self, req: dict[str, Any]) -> dict[str, Any]:
        call, loops = self.calls[req["id"]], 1
        while True:
            start = time.perf_counter()
            for _ in range(loops):
                call()
            if time.perf_counter() - start >= req["min_sample_s"] or loops >= 1 << 24:
                return {"loops": loops}
            loops *= 2

    def time(self, req: dict[str, Any]) -> dict[str, Any]:
        call, loops = self.calls[req["id"]], int(req["loops"])
        clock = time.perf_counter
        start = clock()
        for _ in range(loops):
            call()
        return {"seconds": (clock() - start) / loops}


def main() -> int:
    worker = Worker()
    for line in sys.stdin:
        try:
            req = json.loads(line)
        except ValueError:
            continue
        op = req.get("op")
        if op == "quit":
            return 0
        try:
            answer = {"ok": True, **getattr(worker, op)(req)}
        except Exception as exc:  # a pair that fails is an answer, not the end of the worker
            traceback.print_exc(file=sys.stderr)
            answer = {"ok": False, "error": first_line(exc)}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
