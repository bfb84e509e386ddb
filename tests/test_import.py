import subprocess
import sys

OPTIONAL = ["jax", "jaxlib", "numba", "llvmlite", "cupy", "Cython", "numexpr", "scipy"]


def test_import_symbench_imports_no_optional_backend():
    code = (
        "import sys, symbench\n"
        f"leaked = [m for m in {OPTIONAL!r} if m in sys.modules]\n"
        "print(','.join(leaked))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_api_is_explicit():
    import symbench

    assert symbench.__all__
    for name in symbench.__all__:
        assert hasattr(symbench, name), name
