"""Measured math-library accuracy: the probes, the table, and how it scales tolerances."""

import json
import sys

import numpy as np
import pytest
import sympy as sp

from symbench import Kernel, accuracy, get_backend, get_kernel
from symbench.backends import REGISTRY
from symbench.backends.base import Backend, Compiled
from symbench.cli import main
from symbench.equivalence import check_one
from symbench.errors import BadInput
from symbench.kernels.core import DTYPES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

x, y = sp.symbols("x y", real=True)


class Off(Backend):
    """Test-only backend: numpy's result times ``factor`` (a library that is off by a
    known number of ULPs)."""

    id = "test-off"
    library = "numpy"

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def _compile(self, kernel, dtype, device):
        inner = get_backend("numpy").compile(kernel, dtype, device)
        dt = np.dtype(dtype).type

        def fn(*a):
            return inner.fn(*a) * dt(self.factor)

        return Compiled(self.id, kernel.name, dtype, device, fn, inner.source)


def _entry(backend, device, dtype, family, ulp):
    m = accuracy.Measured(backend, device, dtype, family, ulp, "", "test", "numpy", "test", "")
    return {m.key: m}


@pytest.mark.parametrize(
    "expr, families",
    [
        (x**3 + 2 * x, set()),
        (x**y, {"pow"}),
        (x**1.5, {"pow"}),
        (sp.sqrt(x), {"sqrt"}),
        (1 / sp.sqrt(x), {"sqrt"}),
        (sp.sqrt(2) * sp.exp(x), {"exp"}),  # sqrt(2) is a constant, not a call
        (sp.erfc(x) + sp.tan(y), {"erfc", "trig"}),
        (sp.besselj(0, x), set()),  # no probe, so never scaled
    ],
)
def test_families_of_an_expression(expr, families):
    assert accuracy.families_of(expr) == families


def test_catalog_kernels_map_to_their_families():
    assert accuracy.families_of(get_kernel("black_scholes").expr) == {"erf", "exp", "log", "sqrt"}
    assert accuracy.families_of(get_kernel("gelu").expr) == {"erf"}


def test_tolerance_scales_only_for_the_measured_pair():
    gelu, sigmoid = get_kernel("gelu"), get_kernel("sigmoid")
    table = _entry("jax", "gpu", "float32", "erf", 4.0)
    eff = accuracy.effective_tolerance(gelu, "jax", "gpu:0", "float32", table)
    assert eff.scale == 4.0 and "erf measured at 4 ULP" in eff.why
    assert dict(eff.scales) == {"erf": 4.0}
    for kernel, backend, device, dtype in [
        (gelu, "jax", "cpu", "float32"),  # another device kind
        (gelu, "jax", "gpu:0", "float64"),  # another dtype
        (gelu, "numpy", "gpu:0", "float32"),  # another backend
        (sigmoid, "jax", "gpu:0", "float32"),  # a kernel without erf
    ]:
        eff = accuracy.effective_tolerance(kernel, backend, device, dtype, table)
        assert eff.scale == 1.0 and not eff.scales and eff.why == ""


def test_a_library_within_one_ulp_changes_nothing():
    table = _entry("jax", "gpu", "float32", "erf", 0.8)
    eff = accuracy.effective_tolerance(get_kernel("gelu"), "jax", "gpu:0", "float32", table)
    assert eff.scale == 1.0 and not eff.scales


def test_a_real_divergence_is_not_absorbed():
    gelu = get_kernel("gelu")
    table = _entry("jax", "gpu", "float32", "erf", accuracy.LAST_BITS_ULP * 4)
    eff = accuracy.effective_tolerance(gelu, "jax", "gpu:0", "float32", table)
    assert eff.scale == 1.0 and not eff.scales


def test_check_uses_the_measured_accuracy():
    # erf(x) of an exact input: the bound is erf's own rounding alone, so a library off by
    # 4 eps fails at 1 ULP assumed and passes once erf is measured at 4 ULP.
    kernel = Kernel.from_expr("erf(x)", {"x": (0.5, 2)}, name="erf_only")
    eps = 2.0**-52
    off = Off(1 + 4 * eps)
    assert check_one(kernel, off, "float64", accuracy={}).status == "fail"
    table = _entry("test-off", "cpu", "float64", "erf", 4.0)
    res = check_one(kernel, off, "float64", accuracy=table)
    assert res.status == "pass", res.reason
    assert res.tolerance["scale"] == 4.0 and res.tolerance["scales"] == {"erf": 4.0}
    worse = check_one(kernel, Off(1 + 1e-11), "float64", accuracy=table)
    assert worse.status == "fail" and "bound scaled by measured libraries (erf measured" in (
        worse.reason
    )


def test_survey_measures_a_library_off_by_a_known_amount():
    eps = 2.0**-52
    backends = [get_backend("numpy"), Off(1 + 16 * eps)]
    results = accuracy.survey(["exp"], backends, ["float64"], ["cpu"], points=400)
    by = {(r.backend, r.probe): r for r in results}
    assert {r.status for r in results} == {"measured"}
    for probe in ("exp(x)",):
        assert by["numpy", probe].max_ulp < 4
        # 16 eps relative is 16 to 32 ULP depending on where the value sits in its binade.
        assert 15 < by["test-off", probe].max_ulp < 33
        assert by["test-off", probe].worst.startswith("x=")


def test_survey_reports_unsupported_and_unavailable_with_reasons():
    class Missing(Off):
        id = "test-missing"

        def check_available(self):
            from symbench.errors import Unavailable

            raise Unavailable("not installed here")

    results = accuracy.survey(
        ["gamma"], [get_backend("numexpr"), Missing(1.0)], ["float64"], ["cpu"], points=50
    )
    by = {r.backend: r for r in results}
    if get_backend("numexpr").unavailable_reason() is None:
        assert by["numexpr"].status == "unsupported" and by["numexpr"].reason
    assert by["test-missing"].status == "unavailable"
    assert by["test-missing"].reason == "not installed here"


def test_toml_round_trip(tmp_path):
    results = accuracy.survey(["exp"], [Off(1 + 2.0**-49)], ["float64"], ["cpu"], points=100)
    text = accuracy.to_toml(results, "test machine", {"numpy": "9.9"}, "symbench accuracy", {})
    path = tmp_path / "acc.toml"
    path.write_text(text)
    table = accuracy.load(path)
    (entry,) = table.values()
    assert entry.key == ("test-off", "cpu", "float64", "exp")
    assert entry.max_ulp == round(max(r.max_ulp for r in results), 3) and entry.max_ulp > 3
    assert entry.machine == "test machine" and entry.command == "symbench accuracy"


@pytest.mark.parametrize(
    "text, message",
    [
        ("[[measured]]\nbackend = 'jax'\n", "missing"),
        ("[[measured", "accuracy table"),
    ],
)
def test_a_broken_table_is_bad_input(tmp_path, text, message):
    path = tmp_path / "t.toml"
    path.write_text(text)
    with pytest.raises(BadInput, match=message):
        accuracy.load(path)


def test_an_entry_with_an_unknown_family_or_value_is_bad_input(tmp_path):
    fields = dict(
        backend="jax",
        device="gpu",
        dtype="float32",
        family="erf",
        max_ulp=2.0,
        worst="",
        machine="m",
        library="jax",
        command="c",
        date="d",
    )
    for change, message in [({"family": "bessel"}, "unknown family"), ({"max_ulp": "x"}, "number")]:
        body = "\n".join(f"{k} = {json.dumps(v)}" for k, v in (fields | change).items())
        path = tmp_path / "t.toml"
        path.write_text("[[measured]]\n" + body + "\n")
        with pytest.raises(BadInput, match=message):
            accuracy.load(path)


def test_the_packaged_table_is_well_formed():
    for (backend, device, dtype, family), m in accuracy.load().items():
        assert backend in REGISTRY and dtype in DTYPES and family in accuracy.FAMILIES
        assert device in ("cpu", "gpu", "tpu")
        assert m.max_ulp >= 0 and m.machine and m.command.startswith("symbench accuracy")


def test_every_probe_is_a_valid_kernel_of_its_family():
    for family, (_, probes) in accuracy.FAMILIES.items():
        for i, probe in enumerate(probes):
            assert family in accuracy.families_of(probe.kernel(family, i).expr)


def test_cli_json_and_toml(capsys):
    args = ["accuracy", "-f", "exp", "-b", "numpy", "--dtype", "float64", "--points", "100"]
    assert main([*args, "--json", "--no-progress"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["status"] for r in rows} == {"measured"} and len(rows) == 2
    assert main([*args, "--toml", "--no-progress"]) == 0
    data = tomllib.loads(capsys.readouterr().out)
    (entry,) = data["measured"]
    assert entry["family"] == "exp" and entry["backend"] == "numpy"
    assert "--toml" not in entry["command"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["-f", "bessel"], "unknown function family"),
        (["--points", "3"], "--points"),
        (["--out", "/nonexistent-dir/acc.json"], "cannot write"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(capsys, extra, message):
    assert main(["accuracy", "-b", "numpy", "--no-progress", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_cli_tables(capsys):
    args = ["accuracy", "-f", "exp,gamma", "-b", "numpy,numexpr", "--points", "100"]
    assert main([*args, "--dtype", "float64", "--no-progress"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[1]: line for line in out.splitlines() if line.startswith("│")}
    assert set(rows) >= {"exp", "gamma"}
    numexpr, numpy = (c.strip() for c in rows["gamma"].split("│")[2:-1])  # sorted columns
    assert numexpr == "-" and float(numpy) > 0  # numexpr has no gamma: a dash, not a number
    assert main([*args, "--dtype", "float64", "--detail", "--no-progress"]) == 0
    detail = capsys.readouterr().out
    assert "exp(x)" in detail and "unsupported" in detail
