"""The fuzzer: bounded runs find no error and no unexplained fail, shrinking works, and the
corpus of past findings is replayed as regression tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sympy as sp

from symbench import exprcodec, fuzz, get_backend
from symbench.defects import SloppyExp
from symbench.equivalence import check_one
from symbench.inputs import DEFAULT_SEED

from .conftest import AVAILABLE

CORPUS = json.loads((Path(__file__).parent / "fuzz_corpus.json").read_text())
FAST = [b for b in ("numpy", "numexpr", "numba", "jax") if b in AVAILABLE]
BUILDING = [b for b in ("cython", "ufuncify") if b in AVAILABLE]


def _summary(report: fuzz.FuzzReport) -> str:
    return "; ".join(
        f"{f.backend} {f.dtype} {f.status}: {f.expr}: {f.reason}" for f in report.findings
    )


# Bounded so that CI stays within its time (300 and 20 expressions took 129 s and 124 s of
# a 23-minute suite on the development VM); `symbench fuzz --count 5000` is the long search.
@pytest.mark.slow
def test_bounded_fuzz_on_the_fast_backends():
    report = fuzz.run([get_backend(b) for b in FAST], ["float64", "float32"], count=120, seed=0)
    assert report.expressions == 120, report.stopped
    assert report.errors == 0 and report.unexplained == 0, _summary(report)


@pytest.mark.slow
@pytest.mark.skipif(not BUILDING, reason="no C compiler here")
def test_bounded_fuzz_on_the_building_backends():
    backends = [get_backend(b) for b in BUILDING]
    report = fuzz.run(backends, ["float64", "float32"], count=8, seed=1)
    assert report.expressions == 8, report.stopped
    assert report.errors == 0 and report.unexplained == 0, _summary(report)


def test_a_broken_library_is_found_and_shrunk_to_a_minimal_expression():
    report = fuzz.run([SloppyExp(16)], ["float64"], count=40, seed=3, max_findings=1)
    assert report.findings, "an exp 16-32 ULP off must be found"
    finding = report.findings[0]
    assert finding.status == "fail" and "exp" in finding.expr
    assert sp.count_ops(exprcodec.loads(finding.srepr)) <= 3, finding.expr


def test_findings_go_to_the_corpus_once(tmp_path):
    report = fuzz.run([SloppyExp(16)], ["float64"], count=40, seed=3, max_findings=1)
    path = tmp_path / "corpus.json"
    assert fuzz.save_corpus(path, report.findings) == 1
    assert fuzz.save_corpus(path, report.findings) == 0
    assert len(fuzz.load_corpus(path)) == 1


@pytest.mark.parametrize(
    "entry", CORPUS, ids=[f"{e['backend']}-{e['dtype']}-{e['expr']}" for e in CORPUS]
)
def test_corpus_entry(entry):
    if entry["backend"] not in AVAILABLE:
        pytest.skip(f"{entry['backend']} is not available here")
    kernel = fuzz.kernel_of(exprcodec.loads(entry["srepr"]))
    res = check_one(
        kernel, get_backend(entry["backend"]), entry["dtype"], size=fuzz.POINTS, seed=DEFAULT_SEED
    )
    assert res.status == entry["expect"], f"{entry['note']}: {res.reason}"


def test_fuzz_command(capsys, tmp_path):
    from symbench.cli import main

    corpus = tmp_path / "c.json"
    code = main(
        ["fuzz", "--count", "3", "-b", "numpy", "--json", "--no-progress", "--corpus", str(corpus)]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["expressions"] == 3 and out["errors"] == 0
    assert out["backends"] == ["numpy"] and set(out["dtypes"]) == {"float64", "float32"}
    with pytest.raises(SystemExit) as exc:  # argparse's one line
        main(["fuzz", "--count", "0"])
    assert exc.value.code == 2
    assert main(["fuzz", "-b", "nosuch", "--no-progress"]) == 2


def test_the_default_corpus_works_in_a_fresh_directory(capsys, tmp_path, monkeypatch):
    from symbench.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["fuzz", "--count", "2", "-b", "numpy", "--json", "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["corpus"] == ".symbench/fuzz-corpus.json"
