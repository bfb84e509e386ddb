"""symbench report: HTML and Markdown from real run records (behaviour, not speed)."""

import copy
import re
import subprocess
import sys

import pytest

from symbench import get_backend, get_kernel
from symbench.errors import BadInput
from symbench.records import Store
from symbench.report import build_report
from symbench.runner import RunSettings, run

SECTIONS = (
    "id='timing'",
    "id='speedup'",
    "id='errors'",
    "id='compile'",
    "id='crossover'",
    "id='mathlib'",
)
EVIL = "<script>alert('x')</script>$a_b$"


def small_settings() -> RunSettings:
    return RunSettings(
        sizes=(1, 64), repeats=3, min_sample_s=0.001, check_size=200, bandwidth_elements=1 << 16
    )


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("runs"))
    kernels = [get_kernel("add"), get_kernel("sinc")]
    backends = [get_backend("numpy"), get_backend("numba")]
    rec, _ = run(kernels, backends, small_settings(), store, argv=["symbench", "run"])
    return rec


@pytest.fixture(scope="module")
def page(record, tmp_path_factory):
    path = build_report([record], tmp_path_factory.mktemp("report") / "report.html")
    return path, path.read_text(encoding="utf-8")


def renamed(record, old: str, new: str, doc: str) -> dict:
    """A copy of ``record`` whose kernel ``old`` is called ``new`` and documented as ``doc``."""
    rec = copy.deepcopy(record)
    rec["kernels"][new] = rec["kernels"].pop(old) | {"name": new, "doc": doc}
    for r in rec["results"]:
        if r["kernel"] == old:
            r["kernel"] = new
    return rec


def test_html_page_has_the_six_sections_and_embedded_plots(record, page):
    path, text = page
    assert path.is_file() and path.suffix == ".html"
    for section in SECTIONS:
        assert section in text
    assert len(re.findall(r"<img [^>]*src=\"data:image/png;base64,", text)) == 5
    assert record["run_id"] in text and "symbench run" in text  # run named, command shown
    assert record["provenance"]["machine"]["cpu"]["model"] in text
    assert record["provenance"]["packages"]["numba"] in text
    for needle in ("numpy", "numba", "add", "sinc", "n=64"):
        assert needle in text


def test_html_is_self_contained(page):
    _, text = page
    assert "<script" not in text.lower()
    assert not re.search(r"(src|href)=['\"]?(https?:|//)", text)


def test_html_escapes_text_from_records(record, tmp_path):
    rec = renamed(record, "add", EVIL, doc=f"doc {EVIL}")
    rec["provenance"]["command"] = ["symbench", "run", "--kernel", EVIL]
    text = build_report([rec], tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<script" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;$a_b$" in text


def test_markdown_has_tables_with_the_backends(record, tmp_path):
    text = build_report([record], tmp_path / "r.md", fmt="md").read_text(encoding="utf-8")
    assert record["run_id"] in text and "<img" not in text
    for heading in ("## Crossover", "## Speedup over numpy", "## Max error"):
        assert heading in text
    header_rows = [line for line in text.splitlines() if line.startswith("| kernel")]
    assert len(header_rows) == 3
    assert all("numba" in h for h in header_rows[1:]) and "numpy" in header_rows[1]
    assert text.count("|---|") >= 4  # separator rows: packages + three tables


def test_markdown_neutralises_html_and_pipes(record, tmp_path):
    rec = renamed(record, "sinc", "a|b<i>", doc="")
    text = build_report([rec], tmp_path / "r.md", fmt="md").read_text(encoding="utf-8")
    assert "a\\|b&lt;i&gt;" in text and "<i>" not in text


@pytest.mark.parametrize("fmt", ["pdf", "HTML", ""])
def test_unknown_format_is_bad_input(record, tmp_path, fmt):
    with pytest.raises(BadInput, match="report format") as info:
        build_report([record], tmp_path / "r.out", fmt=fmt)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "r.out").exists()


def test_no_records_and_unwritable_path_are_bad_input(record, tmp_path):
    with pytest.raises(BadInput, match="no run records"):
        build_report([], tmp_path / "r.html")
    with pytest.raises(BadInput, match="cannot write report"):
        build_report([record], tmp_path / "missing" / "r.html")


def test_record_without_timings_says_so(record, tmp_path):
    rec = copy.deepcopy(record)
    for r in rec["results"]:
        r.pop("timings", None)
    text = build_report([rec], tmp_path / "r.html").read_text(encoding="utf-8")
    assert "No timed pairs" in text
    for section in SECTIONS:
        assert section in text
    md = build_report([rec], tmp_path / "r.md", fmt="md").read_text(encoding="utf-8")
    assert "No timed pairs" in md


def test_record_without_results_still_renders(record, tmp_path):
    rec = copy.deepcopy(record) | {"results": []}
    text = build_report([rec], tmp_path / "r.html").read_text(encoding="utf-8")
    assert "hold no results" in text and rec["run_id"] in text


def test_two_runs_are_combined_with_run_tags_where_ambiguous(record, tmp_path):
    other = copy.deepcopy(record)
    other["run_id"] = record["run_id"][:-6] + "abcdef"
    gpu = [copy.deepcopy(r) for r in other["results"] if r["backend"] == "numba"]
    for r in gpu:
        r["device"] = "gpu:0"
    other["results"] = [r for r in other["results"] if r["backend"] == "numpy"] + gpu
    text = build_report([record, other], tmp_path / "r.html").read_text(encoding="utf-8")
    assert record["run_id"] in text and other["run_id"] in text
    assert "numpy [abcdef]" in text  # numpy is in both runs, so its label names the run
    assert "numba @ gpu:0" in text and "numba @ gpu:0 [" not in text  # only in one run
    md = build_report([record, other], tmp_path / "r.md", fmt="md").read_text(encoding="utf-8")
    assert "| gpu:0 |" in md


def test_import_symbench_does_not_import_matplotlib():
    code = "import sys, symbench, symbench.report; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_math_library_section_shows_measured_families_of_the_reported_backends(record):
    from symbench.accuracy import Measured
    from symbench.report.data import collect, math_library_grid

    def entry(backend, device, dtype, family, ulp):
        m = Measured(backend, device, dtype, family, ulp, "", "m", "lib", "cmd", "d")
        return m.key, m

    entries = dict(
        [
            entry("numba", "cpu", "float64", "exp", 1.5),
            entry("numba", "cpu", "float32", "gamma", 3.5),
            entry("jax", "gpu", "float32", "erf", 4.0),  # not in this report: no column
        ]
    )
    grid = math_library_grid(collect([record]), entries)
    assert grid.cols == ["numba float32", "numba float64"]
    exp, gamma = grid.rows.index("exp"), grid.rows.index("gamma")
    assert grid.values[exp] == [None, 1.5] and grid.texts[exp] == ["-", "1.5"]
    assert grid.values[gamma] == [3.5, None]
    assert math_library_grid(collect([record]), {}) is None
