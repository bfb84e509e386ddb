"""Put symbench's device fingerprint into asv's machine description.

asv's machine info has no GPU fields. asv copies every key of the machine's entry in
``~/.asv-machine.json`` into ``results/<machine>/machine.json`` and into each result file's
parameters, and ``asv publish`` makes each one a selector and a directory level of its
graphs. So only short, stable strings go there (``gpu``, ``gpu_driver``, ``accelerators``
and the sha256 of the whole fingerprint); the whole fingerprint is written beside asv's
results as ``results/<machine>/symbench-fingerprint-<sha12>.json.txt`` (the suffix keeps
asv from reading it as a result file).

    python -m symbench.asv_machine [--machine NAME] [--file PATH] [--results DIR]

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


def machine_fingerprint() -> dict[str, Any]:
    """devices.fingerprint() with JAX imported first, so its devices (a TPU has no NVML
    entry) are listed too."""
    with contextlib.suppress(Exception):
        import jax  # noqa: F401
    return fingerprint()


def machine_fields(fp: dict[str, Any] | None = None) -> dict[str, str]:
    """Flat string fields describing the devices, for asv's machine entry."""
    fp = machine_fingerprint() if fp is None else fp
    gpus = fp.get("gpus", [])
    text = fingerprint_text(fp)
    return {
        "gpu": "; ".join(f"{g['id']} {g['name']} (cc {g['compute_capability']})" for g in gpus)
        or "none",
        "gpu_driver": ", ".join(sorted({f"{g['driver']} / CUDA {g['cuda_driver']}" for g in gpus}))
        or "none",
        "accelerators": ", ".join(f"{d['id']} {d['kind']}" for d in fp.get("jax_devices", []))
        or "none",
        "symbench_fingerprint_sha256": hashlib.sha256(text.encode()).hexdigest(),
    }


def fingerprint_text(fp: dict[str, Any]) -> str:
    return json.dumps(fp, sort_keys=True, indent=1)


def save_fingerprint(results_dir: Path, machine: str, fp: dict[str, Any]) -> Path:
    """The whole fingerprint beside asv's results, named by its hash; never overwritten."""
    text = fingerprint_text(fp)
    digest = hashlib.sha256(text.encode()).hexdigest()
    path = results_dir / machine / f"symbench-fingerprint-{digest[:12]}.json.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(text)
    return path


def results_dir(conf: Path = Path("asv.conf.json")) -> Path:
    """asv's results directory as the project's asv.conf.json sets it."""
    try:
        return Path(json.loads(conf.read_text()).get("results_dir", "results"))
    except (OSError, ValueError):
        return Path(".asv/results")


def update_machine_file(
    path: Path = MACHINE_FILE, machine: str | None = None, fp: dict[str, Any] | None = None
) -> str:
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
    data[machine].pop("symbench_fingerprint", None)  # an earlier version's; breaks publish
    data[machine].update(machine_fields(fp))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=4, sort_keys=True))
    tmp.replace(path)
    return machine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m symbench.asv_machine", description=__doc__)
    parser.add_argument("--machine", help="machine name in the file (default: the only one)")
    parser.add_argument("--file", type=Path, default=MACHINE_FILE, help="asv's machine file")
    parser.add_argument("--results", type=Path, help="asv results dir (default: asv.conf.json's)")
    args = parser.parse_args(argv)
    fp = machine_fingerprint()
    try:
        name = update_machine_file(args.file, args.machine, fp)
    except SymbenchError as exc:
        sys.stderr.write(f"symbench: error: {exc}\n")
        return exc.exit_code
    saved = save_fingerprint(args.results or results_dir(), name, fp)
    print(f"asv machine {name!r}: device fields added; fingerprint in {saved}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
