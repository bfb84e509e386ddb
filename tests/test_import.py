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


def _import_graph():
    """symbench's own imports: module -> (top-level targets, in-function targets)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "symbench"
    mods = {}
    for p in root.rglob("*.py"):
        name = ".".join(p.relative_to(root.parent).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = p
    graph = {}
    for m, p in mods.items():
        tree = ast.parse(p.read_text())
        pkg = m if p.name == "__init__.py" else m.rsplit(".", 1)[0]
        top_ids = {id(n) for n in tree.body}
        top, inner = set(), set()
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in mods]
            found = subs if len(subs) == len(node.names) else [target, *subs]
            (top if id(node) in top_ids else inner).update(t for t in found if t in mods)
        graph[m] = (top - {m}, inner - {m})
    return graph


def test_no_import_cycles_and_no_own_imports_inside_functions():
    graph = _import_graph()
    inside = {m: sorted(inner) for m, (_, inner) in graph.items() if inner}
    assert not inside, f"import these at the top of the module: {inside}"
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for t in graph[m][0]:
            assert state.get(t) != 1, f"import cycle: {' -> '.join([*path, m, t])}"
            if t not in state:
                visit(t, [*path, m])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [])
