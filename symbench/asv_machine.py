"""Put symbench's device fingerprint into asv's machine description.

asv's machine info has no GPU fields. asv copies every key of the machine's entry in
``~/.asv-machine.json`` into ``results/<machine>/machine.json`` and into each result file's
parameters, so adding our keys there stores them with the results (and ``asv publish``
offers them as selectors). Values are flat strings, as asv expects; the whole fingerprint
is kept as JSON text in ``symbench_fingerprint`` with its sha256 beside it.

    python -m symbench.asv_machine [--machine NAME] [--file PATH]

Run it after ``asv machine --yes`` (``invoke asv`` does both).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from .devices import fingerprint
from .errors import BadInput, SymbenchError

MACHINE_FILE = Path("~/.asv-machine.json").expanduser()


def machine_fields(fp: dict[str, Any] | None = None) -> dict[str, str]:
    """Flat string fields describing the devices, for asv's machine entry."""
    if fp is None:
        with contextlib.suppress(Exception):  # lists JAX's devices too (a TPU has no NVML)
            import jax  # noqa: F401
        fp = fingerprint()
    gpus = fp.get("gpus", [])
    text = json.dumps(fp, sort_keys=True)
    return {
        "gpu": "; ".join(f"{g['id']} {g['name']} (cc {g['compute_capability']})" for g in gpus)
        or "none",
        "gpu_driver": ", ".join(sorted({f"{g['driver']} / CUDA {g['cuda_driver']}" for g in gpus}))
        or "none",
        "accelerators": ", ".join(f"{d['id']} {d['kind']}" for d in fp.get("jax_devices", []))
        or "none",
        "symbench_fingerprint": text,
        "symbench_fingerprint_sha256": hashlib.sha256(text.encode()).hexdigest(),
    }


def update_machine_file(path: Path = MACHINE_FILE, machine: str | None = None) -> str:
    """Add our fields to one machine of asv's machine file; returns the machine's name."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise BadInput(f"{path} does not exist: run `asv machine --yes` first") from None
    except (OSError, ValueError) as exc:
        raise BadInput(f"cannot read asv's machine file {path}: {exc}") from None
    names = [k for k in data if k != "version"]
    if machine is None:
        if len(names) != 1:
            raise BadInput(f"{path} describes {len(names)} machines: name one with --machine")
        machine = names[0]
    if machine not in data:
        raise BadInput(f"{path} has no machine {machine!r} (has {', '.join(names) or 'none'})")
    data[machine].update(machine_fields())
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=4, sort_keys=True))
    tmp.replace(path)
    return machine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m symbench.asv_machine", description=__doc__)
    parser.add_argument("--machine", help="machine name in the file (default: the only one)")
    parser.add_argument("--file", type=Path, default=MACHINE_FILE, help="asv's machine file")
    args = parser.parse_args(argv)
    try:
        name = update_machine_file(args.file, args.machine)
    except SymbenchError as exc:
        sys.stderr.write(f"symbench: error: {exc}\n")
        return exc.exit_code
    print(f"asv machine {name!r}: device fingerprint added")
    return 0


if __name__ == "__main__":
    sys.exit(main())
