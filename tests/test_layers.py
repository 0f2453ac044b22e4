"""Imports point down only: a subpackage imports only the packages below it (and itself).

The layers follow the data flow (docs/architecture.md); siblings on one layer (cache and
config) do not import each other. Checked on the source with `ast`, so a violation fails here
before anyone has to notice it in review; `kubernetes` is imported by one module only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.helpers import REPO

SDGEN = REPO / "sdgen"

# Each package and the packages it may import. The top-level `sdgen` (its __version__) is open
# to all.
ALLOWED: dict[str, set[str]] = {
    "prom": set(),
    "k8s": {"prom"},
    "cache": {"prom", "k8s"},
    "config": {"prom", "k8s"},
    "resolve": {"prom", "k8s", "config"},
    "output": {"prom", "k8s", "config", "resolve"},
    "runtime": {"prom", "k8s", "cache", "config", "resolve", "output"},
    "cli": {"prom", "k8s", "cache", "config", "resolve", "output", "runtime"},
}


def sdgen_imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every import of an sdgen module in `path`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from sdgen import x` names a module by x; `from sdgen.a.b import x` by sdgen.a.b
            names = (
                [f"sdgen.{a.name}" for a in node.names] if node.module == "sdgen" else [node.module]
            )
            found += [(node.lineno, n) for n in names if n.split(".")[0] == "sdgen"]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "sdgen"]
    return found


def package_of(module: str) -> str | None:
    """`sdgen.resolve.scope` → `resolve`; None for the top-level package itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ALLOWED else None


def layer_violations(root: Path) -> list[str]:
    problems = []
    for package, allowed in ALLOWED.items():
        for path in sorted((root / package).rglob("*.py")):
            for line, module in sdgen_imports(path):
                target = package_of(module)
                if target is not None and target != package and target not in allowed:
                    rel = path.relative_to(root.parent)
                    problems.append(f"{rel}:{line}: {package} imports {module} (upward)")
    return problems


def test_every_module_lives_in_a_layer() -> None:
    loose = [p.name for p in SDGEN.glob("*.py") if p.name not in {"__init__.py", "__main__.py"}]
    assert loose == []
    assert {p.name for p in SDGEN.iterdir() if (p / "__init__.py").exists()} == set(ALLOWED)


def test_imports_point_down_only() -> None:
    assert layer_violations(SDGEN) == []


def test_each_package_says_what_it_owns_and_may_import() -> None:
    for package in ALLOWED:
        doc = ast.get_docstring(ast.parse((SDGEN / package / "__init__.py").read_text()))
        assert doc and "May import" in doc and "Owns" in doc, package


def test_only_the_api_client_imports_kubernetes() -> None:
    importers = []
    for path in SDGEN.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n.split(".")[0] == "kubernetes" for n in names):
                importers.append(str(path.relative_to(SDGEN)))
    assert sorted(set(importers)) == ["cache/apiclient.py"]


@pytest.mark.parametrize(
    ("package", "source", "expected"),
    [
        ("prom", "from sdgen.k8s.records import Pod\n", ["prom imports sdgen.k8s.records"]),
        ("resolve", "from sdgen.runtime import loop\n", ["resolve imports sdgen.runtime"]),
        ("k8s", "from sdgen import cli\n", ["k8s imports sdgen.cli"]),
        ("cache", "import sdgen.config.model\n", ["cache imports sdgen.config.model"]),
        ("config", "from sdgen import __version__\nfrom sdgen.prom import relabel\n", []),
    ],
)
def test_the_check_finds_an_upward_import(
    tmp_path: Path, package: str, source: str, expected: list[str]
) -> None:
    """The check itself can fail: a planted upward import is reported, a downward one is not."""
    root = tmp_path / "sdgen"
    for name in ALLOWED:
        (root / name).mkdir(parents=True)
        (root / name / "__init__.py").write_text("")
    (root / package / "planted.py").write_text(source)
    found = [p.split(": ", 1)[1].removesuffix(" (upward)") for p in layer_violations(root)]
    assert found == expected


def public_classes() -> dict[str, list[str]]:
    """Public top-level class name → the modules defining it."""
    found: dict[str, list[str]] = {}
    for path in sorted(SDGEN.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                found.setdefault(node.name, []).append(str(path.relative_to(SDGEN)))
    return found


def test_no_two_public_classes_share_a_name() -> None:
    assert {name: where for name, where in public_classes().items() if len(where) > 1} == {}


def test_every_error_sdgen_raises_derives_from_one_base() -> None:
    import importlib

    from sdgen import SdgenError

    errors = [
        (name, where[0])
        for name, where in public_classes().items()
        if (name.endswith("Error") and name != "SdgenError")
        or name in {"Expired", "ReadTimeout", "NoClusterConfig", "GaveUp"}
    ]
    assert len(errors) >= 10
    for name, where in errors:
        module = importlib.import_module("sdgen." + where.removesuffix(".py").replace("/", "."))
        assert issubclass(getattr(module, name), SdgenError), f"{where}: {name}"
