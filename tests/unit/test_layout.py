"""The code's layout rules, so they hold from now on: which way imports go, and how long a shipped module may be."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("callercard", "asterisk", "worker", "crm")
# The only modules under callercard/ that wire adapters in: the API's root and the CLI, which starts the processes.
COMPOSITION_ROOTS = {"callercard/api/app.py", "callercard/cli.py"}
ADAPTERS = {"worker", "asterisk", "crm"}
TOOLS = {"amisim", "bench", "tests", "tools"}
MAX_LINES = 300


def modules(*packages: str) -> list[Path]:
    return sorted(path for package in packages for path in (ROOT / package).rglob("*.py"))


def imported_packages(path: Path) -> set[str]:
    """The top-level packages ``path`` imports, anywhere in it (in functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.partition(".")[0])
    return found


def name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_the_domain_never_imports_an_adapter_except_in_its_composition_roots() -> None:
    offending = {name(path): sorted(imported_packages(path) & ADAPTERS) for path in modules("callercard")
                 if name(path) not in COMPOSITION_ROOTS and imported_packages(path) & ADAPTERS}
    assert offending == {}, "the domain names what it needs in callercard/ports.py; adapters implement it"


def test_the_composition_roots_exist() -> None:
    assert all((ROOT / root).is_file() for root in COMPOSITION_ROOTS)
    assert all(imported_packages(ROOT / root) & ADAPTERS for root in COMPOSITION_ROOTS), "a root that wires nothing"


@pytest.mark.parametrize("package", SHIPPED)
def test_shipped_code_never_imports_a_tool_or_the_tests(package: str) -> None:
    offending = {name(path): sorted(imported_packages(path) & TOOLS) for path in modules(package)
                 if imported_packages(path) & TOOLS}
    assert offending == {}


def test_no_shipped_module_is_over_300_lines() -> None:
    lengths = {name(path): len(path.read_text(encoding="utf-8").splitlines()) for path in modules(*SHIPPED)}
    assert {module: lines for module, lines in lengths.items() if lines > MAX_LINES} == {}
    assert len(lengths) > 40, "the packages were found"
