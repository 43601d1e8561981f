"""The one-way dependency rule, read from the code: interfaces -> rag -> {ingest, vectorstore};
ingest and vectorstore never import rag or each other; nothing under rag/ imports ui/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"rag": {"ui"}, "ingest": {"rag", "ui", "vectorstore"}, "vectorstore": {"rag", "ui", "ingest"}}


def imported_packages(path: Path) -> set[str]:
    """Top-level packages a module imports (relative imports stay inside its own package)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_flow_one_way(package):
    wrong = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in wrong.items() if v} == {}


def test_the_rule_sees_an_import_inside_a_function(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from ui.app import launch\n    import vectorstore.store\n")
    assert imported_packages(module) == {"ui", "vectorstore"}
