"""The rings hold (DESIGN.md §3), read from the source with `ast`:

- core imports no domain and no surface;
- a domain imports another domain only through its public `__init__`, and no surface;
- outside a domain, code uses only its public `__init__` too;
- no cycle between packages.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import devflow
from devflow.domains import DOMAINS

SRC = Path(devflow.__file__).parent
DOMAIN_NAMES = {domain.name for domain in DOMAINS}
# What is neither core nor a domain: the surfaces and the process entry points, test support.
SURFACES = {
    "web",
    "mcp",
    "cli",
    "worker",
    "runtime",
    "domains",
    "all_models",
    "testing",
    "__main__",
}


def _package(module: str) -> str:
    """`devflow.knowledge.jobs` -> `knowledge`; `devflow` -> ``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _module_of(path: Path) -> str:
    relative = path.relative_to(SRC.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[str]:
    """The `devflow…` modules a file imports (relative imports resolved)."""
    module = _module_of(path)
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("devflow")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if not target.startswith("devflow"):
                continue
            # `from devflow.x import y` may import the module `devflow.x.y`.
            found += [
                f"{target}.{a.name}"
                if (SRC.parent / f"{target}.{a.name}".replace(".", "/")).exists()
                or (SRC.parent / (f"{target}.{a.name}".replace(".", "/") + ".py")).exists()
                else target
                for a in node.names
            ]
    return found


def _sources() -> list[Path]:
    return [p for p in SRC.rglob("*.py") if "migrations" not in p.parts]


def _violations() -> list[str]:
    problems = []
    for path in _sources():
        module = _module_of(path)
        own = _package(module)
        for target in _imports(path):
            other = _package(target)
            if other in {"", own}:
                continue
            public = target == f"devflow.{other}"
            if own == "core" and other != "core":
                problems.append(f"{module} (core) imports {target}")
            elif own in DOMAIN_NAMES and other in SURFACES:
                problems.append(f"{module} (a domain) imports the surface {target}")
            elif other in DOMAIN_NAMES and not public:
                problems.append(f"{module} imports {target}, a private module of {other}")
    return sorted(set(problems))


def _cycles() -> list[list[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for path in _sources():
        own = _package(_module_of(path))
        for target in _imports(path):
            other = _package(target)
            if other and own and other != own:
                edges[own].add(other)
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        for nxt in sorted(edges[node]):
            if nxt in trail:
                cycles.append([*trail[trail.index(nxt) :], nxt])
            elif len(trail) < len(edges) + 1:
                visit(nxt, [*trail, nxt])

    for start in sorted(edges):
        visit(start, [start])
    return cycles


def test_core_and_domains_keep_to_their_rings():
    assert _violations() == []


def test_no_package_depends_on_itself_through_others():
    assert _cycles() == []


def test_every_domain_has_a_manifest_and_the_files_of_a_domain():
    for domain in DOMAINS:
        folder = SRC / domain.name
        assert (folder / "__init__.py").is_file(), domain.name
        assert (folder / "AGENTS.md").is_file(), f"{domain.name} has no AGENTS.md"
