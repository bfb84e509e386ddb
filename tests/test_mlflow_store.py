"""The MLflow store against a real ``mlflow server`` (SQLite backend store, local artifact
root) started on a free port for this module, killed and restarted where a test needs it."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("mlflow")

from symbench.cli import main  # noqa: E402
from symbench.records import Store  # noqa: E402
from symbench.records.mlflow_store import (  # noqa: E402
    COMPLETE,
    TAG,
    MlflowStore,
    Unreachable,
    index_entries,
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``mlflow server`` in a subprocess; ``stop()`` kills it, ``start()`` brings it back on
    the same port, database and artifact directory."""

    def __init__(self, root: Path):
        self.root, self.port, self.proc = root, _free_port(), None
        self.uri = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        cmd = [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
            "--artifacts-destination", str(self.root / "artifacts"),
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
        ]  # fmt: skip
        log = open(self.root / "server.log", "ab")  # noqa: SIM115
        # its own process group: mlflow server runs uvicorn in child processes
        # (and, unless told not to, job runners symbench does not use)
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
            if self.proc.poll() is not None:
                break
        raise RuntimeError(
            "mlflow server did not start:\n" + (self.root / "server.log").read_text()
        )

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("mlflow-server"))
    srv.start()
    yield srv
    srv.stop()


QUICK = ["run", "--quick", "--kernel", "add", "--backend", "numpy,numba", "--dtype", "float64",
         "--sizes", "1,1000", "--repeats", "3", "--min-sample-s", "0.001", "--no-progress"]  # fmt: skip


def _symbench(*args, env=None, **kw):
    return subprocess.Popen([sys.executable, "-m", "symbench", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)  # fmt: skip


def test_two_stores_push_concurrently_and_every_command_reads_the_server(server, tmp_path, capsys):
    exp = "concurrent"
    procs = [
        _symbench(
            *QUICK,
            "--store",
            server.uri,
            "--experiment",
            exp,
            "--local",
            str(tmp_path / f"local{i}"),
            "--json",
        )  # fmt: skip
        for i in (1, 2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    ids = sorted(json.loads(o[0])["run_id"] for o in outs)
    args = ["--store", server.uri, "--experiment", exp]
    assert main(["history", *args, "--json"]) == 0
    assert sorted(r["run_id"] for r in json.loads(capsys.readouterr().out)) == ids
    assert main(["show", "latest", *args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run_id"] == ids[-1]
    assert main(["show", ids[0][:20], *args, "--json"]) == 0  # a unique prefix
    capsys.readouterr()
    code = main(["gate", ids[0], ids[1], *args, "--json"])
    verdict = json.loads(capsys.readouterr().out)
    assert code == verdict["exit_code"] and (verdict["baseline"], verdict["current"]) == tuple(ids)
    out = tmp_path / "report.html"
    assert main(["report", *ids, *args, "--out", str(out)]) == 0
    assert out.stat().st_size > 1000
    capsys.readouterr()
    assert main(["monitor", *args]) == 3  # two runs: too short to say
    capsys.readouterr()
    # pushing the local stores again creates no duplicate
    for i in (1, 2):
        assert main(["push", *args, "--local", str(tmp_path / f"local{i}"), "--json"]) == 0
        assert set(json.loads(capsys.readouterr().out)["runs"].values()) == {"present"}
    store = MlflowStore(server.uri, exp)
    assert store.ids() == ids


def test_an_unreachable_server_keeps_the_record_and_push_sends_it_later(server, tmp_path):
    away = f"http://127.0.0.1:{_free_port()}"
    local = tmp_path / "local"
    p = _symbench(*QUICK, "--store", away, "--local", str(local))
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-2000:]
    lines = [ln for ln in err.splitlines() if away in ln]
    assert len(lines) == 1 and "symbench push" in lines[0]
    (kept,) = Store(local).files()
    assert oct(kept.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    store = MlflowStore(server.uri, "later", local=Store(local))
    assert store.push_pending() == {kept.stem: "pushed"}
    assert store.push_pending() == {kept.stem: "present"}
    assert store.load("latest")["run_id"] == kept.stem
    with pytest.raises(Unreachable):
        MlflowStore(away, "later", local=Store(local)).push_pending()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_a_push_killed_halfway_is_completed_by_the_next_push(server, tmp_path, monkeypatch):
    local = tmp_path / "local"
    assert main([*QUICK, "--store", str(local)]) == 0  # recorded while offline
    store = MlflowStore(server.uri, "killed", local=Store(local))
    client = store.client()
    real = client.log_artifact

    def die_first(*a, **kw):  # the server dies after params, tags and metrics are in
        server.stop()
        return real(*a, **kw)

    monkeypatch.setattr(client, "log_artifact", die_first)
    with pytest.raises(Unreachable):
        store.push_pending()
    monkeypatch.setattr(client, "log_artifact", real)
    server.start()
    assert store.ids() == []  # the half-written run is invisible to readers
    (rid,) = store.push_pending()
    runs = store._runs(f"tags.`{TAG}run_id` = '{rid}'")
    assert len(runs) == 1 and runs[0].data.tags[COMPLETE] == "true"
    assert store.load(rid)["run_id"] == rid


def test_a_record_edited_to_carry_code_is_refused(server, tmp_path, capsys):
    local = tmp_path / "local"
    assert main([*QUICK, "--store", str(local)]) == 0
    (path,) = Store(local).files()
    record = json.loads(path.read_text())
    name = next(iter(record["kernels"]))
    record["kernels"][name]["expr"] = "__import__('os').system('echo pwned')"
    text = json.dumps(record)
    store = MlflowStore(server.uri, "edited", local=Store(local))
    store.push_record(record, text)  # pushed as it is (its sha256 matches): caught on load
    with pytest.raises(Exception, match="refusing it"):
        store.load(record["run_id"])
    assert main(["history", "--store", server.uri, "--experiment", "edited"]) == 0
    assert "refusing it" in capsys.readouterr().err


def test_index_keys_fit_mlflow_limits_and_batches_are_chunked(tmp_path):
    from mlflow.utils.validation import MAX_ENTITY_KEY_LENGTH

    assert main([*QUICK, "--store", str(tmp_path)]) == 0
    record = json.loads(Store(tmp_path).files()[0].read_text())
    long = "k" * 400
    record["results"][0]["kernel"] = long
    params, tags, metrics = index_entries(record)
    assert all(len(k) <= MAX_ENTITY_KEY_LENGTH for k in [*params, *tags, *metrics])
    assert any(k.startswith("add/numba/cpu/float64/1000/") for k in metrics)
    assert {"package.numpy", "setting.repeats"} <= set(params)
    assert tags[TAG + "run_id"] == record["run_id"]


def test_push_to_a_directory_store_is_bad_input(tmp_path):
    assert main(["push", "--store", str(tmp_path)]) == 2


@pytest.mark.parametrize("option", ["--asv", "--local"])
def test_push_from_a_missing_directory_is_bad_input(tmp_path, capsys, option):
    # a mistyped path pushed nothing and exited 0 (bad-input sweep); checked before MLflow
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    assert main(["push", "--store", uri, option, str(tmp_path / "typo")]) == 2
    assert f"{option} " in capsys.readouterr().err and not (tmp_path / "m.db").exists()


def test_asv_results_are_logged_once_with_commit_and_machine(server, tmp_path, capsys):
    from symbench.asv_machine import save_fingerprint
    from symbench.devices import fingerprint

    results = tmp_path / "asv-results"
    fp = fingerprint()
    save_fingerprint(results, "box", fp)
    (results / "box" / "machine.json").write_text(json.dumps({"machine": "box"}))
    result = {"commit_hash": "0123456789abcdef", "env_name": "existing-py", "version": 2,
              "params": {"machine": "box", "cpu": "AMD EPYC", "python": "3.11"},
              "results": {"bench_compile.TimeCall.time_call": [[1.0e-3]]}}  # fmt: skip
    (results / "box" / "01234567-existing-py.json").write_text(json.dumps(result))
    (tmp_path / "none").mkdir()  # an empty local store: no records pending
    args = ["push", "--store", server.uri, "--experiment", "asvtest", "--local",
            str(tmp_path / "none"), "--asv", str(results), "--json"]  # fmt: skip
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)["asv"]
    assert list(first.values()) == ["pushed"]
    assert main(args) == 0
    assert list(json.loads(capsys.readouterr().out)["asv"].values()) == ["present"]
    store = MlflowStore(server.uri, "asvtest")
    exp = store.client().get_experiment_by_name("asvtest-asv")
    (run,) = store.client().search_runs([exp.experiment_id])
    from symbench.records.mlflow_store import machine_key

    assert run.data.tags[TAG + "git_commit"] == "0123456789abcdef"
    assert run.data.tags[TAG + "machine"] == machine_key(fp)
    assert run.data.params["asv.cpu"] == "AMD EPYC"
    files = {a.path for a in store.client().list_artifacts(run.info.run_id)}
    assert "01234567-existing-py.json" in files and any("fingerprint" in f for f in files)


def test_a_new_sqlite_store_keeps_stderr_quiet(tmp_path):
    # every command on a new SQLite store printed MLflow's migration INFO lines (sweep)
    proc = subprocess.run(
        [sys.executable, "-m", "symbench", "history", "--store", f"sqlite:///{tmp_path / 'm.db'}"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
