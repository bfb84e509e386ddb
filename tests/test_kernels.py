import pytest
import sympy as sp

from symbench import BadInput, Domain, Kernel, catalog, get_kernel, load_kernels_file
from symbench.kernels.core import DTYPES


def test_catalog_has_at_least_14_uniquely_named_kernels():
    kernels = catalog()
    assert len(kernels) >= 14
    assert all(name == k.name for name, k in kernels.items())


def test_catalog_contains_the_original_study_kernels():
    x = sp.Symbol("x", real=True)
    from sympy.physics.hydrogen import R_nl

    exprs = {str(k.expr) for k in catalog().values()}
    assert {"x + y", "x**2", "sin(x)/x"} <= exprs
    assert get_kernel("hydrogen_r31").expr == R_nl(3, 1, x, 6)
    assert 0.0 in get_kernel("sinc").domains[0].special


def test_every_catalog_kernel_is_complete():
    for k in catalog().values():
        assert k.doc and k.source, k.name
        assert len(k.args) == len(k.domains)
        assert set(k.tolerances) >= set(DTYPES)
        assert k.expr.free_symbols <= set(k.args)


def test_big_kernel_has_hundreds_of_operations():
    assert sp.count_ops(get_kernel("hydrogen_sum8").expr) >= 200


def test_from_expr_orders_args_like_domains():
    k = Kernel.from_expr("x*y + sin(y)", {"y": (0, 1), "x": "-2:2"})
    assert k.arg_names == ("y", "x")
    assert k.domains[1] == Domain(-2.0, 2.0, special=(0.0,))


@pytest.mark.parametrize(
    ("expr", "domains", "message"),
    [
        ("sin(x", {"x": (0, 1)}, "cannot parse"),
        ("x + y", {"x": (0, 1)}, "have no domain"),
        ("x", {"x": (1, 1)}, "empty domain"),
        ("x", {"x": (2, 1)}, "empty domain"),
        ("I*x", {"x": (0, 1)}, "complex-valued"),
        ("x", {"x": (0, 1), "z": (0, 1)}, "does not contain"),
        ("3", {}, "no variables"),
        ("x > 1", {"x": (0, 2)}, "not an arithmetic expression"),
    ],
)
def test_from_expr_rejects_bad_input(expr, domains, message):
    with pytest.raises(BadInput, match=message):
        Kernel.from_expr(expr, domains)


def test_domain_parse():
    assert Domain.parse("-1.5:2") == Domain(-1.5, 2.0, special=(0.0,))
    with pytest.raises(BadInput):
        Domain.parse("1..2")
    with pytest.raises(BadInput):
        Domain.parse("a:b")


def test_kernels_file(tmp_path):
    f = tmp_path / "mine.py"
    f.write_text(
        "from symbench import Kernel\n"
        "KERNELS = [Kernel.from_expr('exp(-x**2)', {'x': (-3, 3)}, name='gauss')]\n"
    )
    (k,) = load_kernels_file(f)
    assert k.name == "gauss"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "does not exist"),
        ("X = 1\n", "defines no KERNELS"),
        ("KERNELS = [1]\n", "non-Kernel"),
    ],
)
def test_kernels_file_errors(tmp_path, text, message):
    f = tmp_path / "k.py"
    if text is not None:
        f.write_text(text)
    with pytest.raises(BadInput, match=message):
        load_kernels_file(f)


def test_the_codegen_view_is_made_once_and_is_not_part_of_the_kernel():
    from symbench.backends.codegen import with_float_constants

    k = Kernel.from_expr("sin(x)/3 + y**2", {"x": (-1, 1), "y": (0, 2)})
    twin = Kernel.from_expr("sin(x)/3 + y**2", {"x": (-1, 1), "y": (0, 2)})
    view = k.for_codegen()
    assert k.for_codegen() is view  # every backend compiles the same prepared view
    assert [str(a) for a in view.args] == ["sbarg0", "sbarg1"] and view.arg_names != k.arg_names
    assert k == twin  # the remembered view is not a field
    assert k.content_hash == twin.content_hash
    assert with_float_constants(view.expr) is with_float_constants(view.expr)
    plain = Kernel.from_expr("sin(sbarg0)", {"sbarg0": (0, 1)})  # already safe: itself
    assert plain.for_codegen() is plain


def test_messages_about_a_huge_expression_stay_short():
    wide = "+".join(f"x{i}" for i in range(1500))
    with pytest.raises(BadInput) as exc:
        Kernel.from_expr(wide, {"x0": (0, 1)})
    assert len(str(exc.value)) < 400 and " ..." in str(exc.value)
    with pytest.raises(BadInput) as exc:
        Kernel.from_expr("x" * 10_000, {"x": (0, 1)})
    assert len(str(exc.value)) < 400
