"""The import graph of capi_sysext: every module imports on its own, and no cycle exists, counting
every import (module level, function level, TYPE_CHECKING) and each registry's _MODULES table
(plug-ins the registry loads through import_module) as edges. ARCHITECTURE.md describes the
layers this keeps apart."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "capi_sysext"
REGISTRIES = ("capi_sysext.clouds", "capi_sysext.features", "capi_sysext.writers")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _registry_table(tree: ast.Module) -> list[str]:
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name) and target.id == "_MODULES" and node.value is not None:
            value = ast.literal_eval(node.value)
            return list(value.values() if isinstance(value, dict) else value)
    return []


def _edges(name: str) -> set[str]:
    tree = ast.parse(MODULES[name].read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import submodule` depends on the submodule; loading pkg/__init__ on the
            # way is Python's doing, as for any `import pkg.submodule`, and not an edge.
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                out.add(sub if sub in MODULES else node.module)
    if name in REGISTRIES:
        out |= set(_registry_table(tree))
    return {m for m in out if m in MODULES and m != name}


GRAPH = {name: _edges(name) for name in MODULES}


def test_registries_tables_are_read():
    assert "capi_sysext.clouds.aws" in GRAPH["capi_sysext.clouds"]
    assert "capi_sysext.features.kured" in GRAPH["capi_sysext.features"]
    assert "capi_sysext.writers.cluster" in GRAPH["capi_sysext.writers"]


def _cycle() -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(GRAPH):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_import_graph_has_no_cycle():
    assert _cycle() is None, " -> ".join(_cycle() or [])


def test_a_cycle_would_be_found(monkeypatch):
    monkeypatch.setitem(
        GRAPH, "capi_sysext.spec", GRAPH["capi_sysext.spec"] | {"capi_sysext.clouds"}
    )
    assert _cycle() is not None


# __main__ runs the CLI when imported: that is its job.
@pytest.mark.parametrize("name", sorted(m for m in MODULES if not m.endswith("__main__")))
def test_module_imports_in_a_fresh_interpreter(name):
    proc = subprocess.run(
        [sys.executable, "-c", f"import {name}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


# The layers of ARCHITECTURE.md, bottom up, as far as the rule "no upward arrow" goes: a module
# of a layer imports nothing of a later one. Modules not named here are bottom-layer helpers
# (errors, inputs, model, catalog, yamlio, unitfile, contracts, render/ ...), checked by the
# cycle test; cli/ is the top.
TYPES = {"capi_sysext.spec", "capi_sysext.node", "capi_sysext.capi", "capi_sysext.context"}
INTERFACES = {"capi_sysext.clouds.base", "capi_sysext.features.base"}
PLUGIN_PACKAGES = ("capi_sysext.clouds.", "capi_sysext.features.")
# Registries, the stages that take plug-ins (spec building, generate, validate), the cores of
# commands that use a plug-in's own helpers (lock, mirror), and the output writers (after
# generate: they take its result).
REGISTRIES_AND_UP = {
    *REGISTRIES,
    "capi_sysext.lock",
    "capi_sysext.mirror",
    "capi_sysext.specbuild",
    "capi_sysext.plugins",
    "capi_sysext.generate",
    "capi_sysext.standalone",
    "capi_sysext.validate",
    "capi_sysext.fleet",  # drives spec building, generate and the writers per cluster
}


def _layer(name: str) -> int:
    if name.startswith("capi_sysext.cli") or name in ("capi_sysext.entry", "capi_sysext.__main__"):
        return 5
    if name in REGISTRIES_AND_UP or name.startswith("capi_sysext.writers."):
        return 4
    if name.startswith(PLUGIN_PACKAGES) and name not in INTERFACES:
        return 3  # plug-ins
    if name in INTERFACES:
        return 2
    if name in TYPES:
        return 1
    return 0


def test_no_upward_arrows():
    upward = [
        f"{a} -> {b}"
        for a, targets in GRAPH.items()
        for b in targets
        if _layer(b) > _layer(a) and not (_layer(a) == 0 and _layer(b) in (0, 1))
    ]
    assert upward == []


def _private_imports(name: str) -> list[str]:
    """`from capi_sysext.x import _y` (any level, any scope): a leading underscore means the name is
    its module's own business, so another module reaching for it is a name that should be public
    in its owner or live elsewhere."""
    tree = ast.parse(MODULES[name].read_text())
    return [
        f"{name}:{node.lineno} imports {a.name} from {node.module}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module
        and node.module.startswith("capi_sysext")
        for a in node.names
        if a.name.startswith("_") and not a.name.startswith("__")
    ]


def test_no_module_imports_a_private_name_of_another():
    found = [line for name in sorted(MODULES) for line in _private_imports(name)]
    assert not found, "\n".join(found)


def test_a_private_import_would_be_found(monkeypatch, tmp_path):
    fake = tmp_path / "fake.py"
    fake.write_text("def f():\n    from capi_sysext.apply.documents import _hidden\n")
    monkeypatch.setitem(MODULES, "capi_sysext.fake", fake)
    assert _private_imports("capi_sysext.fake") == [
        "capi_sysext.fake:2 imports _hidden from capi_sysext.apply.documents"
    ]
