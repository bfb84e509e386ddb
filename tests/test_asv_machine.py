"""Our device fingerprint goes into asv's machine file, as flat strings asv can store."""

import hashlib
import json

import pytest

from symbench import BadInput
from symbench.asv_machine import (
    fingerprint_text,
    machine_fields,
    main,
    save_fingerprint,
    update_machine_file,
)

FP = {
    "hostname": "box",
    "cpu": {"model": "Some CPU"},
    "gpus": [
        {
            "id": "gpu:0",
            "name": "NVIDIA H100",
            "compute_capability": "9.0",
            "driver": "550.1",
            "cuda_driver": "12.4",
        }  # fmt: skip
    ],
    "jax_devices": [{"id": "gpu:0", "platform": "gpu", "kind": "NVIDIA H100"}],
}


def test_fields_are_flat_strings_and_keep_the_whole_fingerprint():
    fields = machine_fields(FP)
    assert all(isinstance(v, str) for v in fields.values())
    assert fields["gpu"] == "gpu:0 NVIDIA H100 (cc 9.0)"
    assert fields["gpu_driver"] == "550.1 / CUDA 12.4"
    assert all(len(v) < 100 for v in fields.values())  # asv makes each a directory name
    digest = hashlib.sha256(fingerprint_text(FP).encode()).hexdigest()
    assert fields["symbench_fingerprint_sha256"] == digest
    assert machine_fields(FP | {"gpus": [], "jax_devices": []})["gpu"] == "none"


def test_update_keeps_asv_fields_and_adds_ours(tmp_path):
    path = tmp_path / "asv-machine.json"
    path.write_text(json.dumps({"version": 1, "box": {"machine": "box", "cpu": "Some CPU"}}))
    assert update_machine_file(path) == "box"
    entry = json.loads(path.read_text())["box"]
    assert entry["cpu"] == "Some CPU" and "gpu" in entry and "symbench_fingerprint_sha256" in entry


def test_whole_fingerprint_is_saved_beside_the_results_and_kept(tmp_path):
    path = save_fingerprint(tmp_path, "box", FP)
    assert path.parent == tmp_path / "box" and not path.name.endswith(".json")
    assert json.loads(path.read_text()) == FP
    path.write_text("earlier")  # an existing file is never overwritten
    assert save_fingerprint(tmp_path, "box", FP).read_text() == "earlier"


def test_missing_or_ambiguous_machine_file_is_bad_input(tmp_path, capsys):
    with pytest.raises(BadInput, match="asv machine --yes"):
        update_machine_file(tmp_path / "none.json")
    two = tmp_path / "two.json"
    two.write_text(json.dumps({"version": 1, "a": {}, "b": {}}))
    with pytest.raises(BadInput, match="2 machines"):
        update_machine_file(two)
    assert main(["--file", str(two), "--machine", "c"]) == 2
    assert "no machine 'c'" in capsys.readouterr().err


def test_asv_publish_rebuilds_the_pages_from_the_tracked_results(tmp_path):
    # asv/results is tracked (not .asv/results): a clone holds every machine's asv history
    # and `asv publish` builds the pages from it alone.
    import shutil
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    tracked = root / "asv" / "results"
    if shutil.which("asv") is None or not (root / ".git").exists() or not tracked.is_dir():
        pytest.skip("needs asv, a git checkout and its tracked asv/results")
    machines = {p.parent.name for p in tracked.glob("*/machine.json")}
    assert machines, "asv/results holds no machine"
    proc = subprocess.run(
        ["asv", "publish", "--html-dir", str(tmp_path / "html")],
        cwd=root, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    index = json.loads((tmp_path / "html" / "index.json").read_text())
    assert machines <= set(index["params"]["machine"])
