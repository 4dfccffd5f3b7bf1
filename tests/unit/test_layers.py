"""The layer order: imports only run down, and no process imports another.

Bottom to top (README, "Where things live"; `../shared/STYLE.md`, "The layer order"):

0. `schemas`: pure wire contracts and models, no I/O.
1. shared I/O: `services.ghl`, `services.db`, `services.platform`, and the streams' shared
   pieces `streams.settings` (the Kafka and database settings every process reads),
   `streams.topics` (those settings' view of `schemas.topics`) and `streams.admin` (Kafka
   admin). These may import each other and `schemas`.
2. the processes: `streams.normalize`, `streams.projections`, `streams.history`,
   `services.webhooks`, `services.poller`, `services.writer`, `services.api`,
   `services.simulator`, `services.installs`. Each imports layers 0-1 only, never another
   process, and no `streams` process imports `services.ghl` (the entry point builds the GHL
   fetcher and passes it in).
3. the tools: `services.status`, `services.demo`, `services.stack`, `services.catalog`,
   `services.settings_doc` (it reads every settings class to write `docs/settings.md`),
   `services.run` (`ghl-sync run`). They
   may use one another (the demo drives the stack).
4. the CLI and the worker's entry point: `services.cli`, every `cli` module of a package
   (`services.poller.cli`, `streams.projections.cli`, ...), `streams.worker`, `streams.app` and
   `streams.ghl_fetcher` (the GHL fetcher the worker builds and passes to normalize).

Every import counts: at module level, inside functions, under `TYPE_CHECKING`, and the string
given to `importlib.import_module`. The few imports that still break the order are listed in
`EXCEPTIONS`, each by name with its reason; an entry that no longer matches an import fails
the test too, so the list only shrinks.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "services", "streams")

SCHEMAS, SHARED, PROCESS, TOOL, TOP = range(5)
LAYER_NAMES = ("schemas", "shared I/O", "process", "tool", "CLI / entry point")

LAYERS: dict[str, int] = {
    "schemas": SCHEMAS,
    "services.ghl": SHARED,
    "services.db": SHARED,
    "services.platform": SHARED,
    "streams.settings": SHARED,
    "streams.topics": SHARED,
    "streams.admin": SHARED,
    "services.customfields": SHARED,
    "streams.normalize": PROCESS,
    "streams.projections": PROCESS,
    "streams.history": PROCESS,
    "services.webhooks": PROCESS,
    "services.poller": PROCESS,
    "services.writer": PROCESS,
    "services.api": PROCESS,
    "services.simulator": PROCESS,
    "services.installs": PROCESS,
    "services.status": TOOL,
    "services.demo": TOOL,
    "services.stack": TOOL,
    "services.catalog": TOOL,
    "services.settings_doc": TOOL,
    "services.tail": TOOL,
    "services.run": TOOL,
    "services.cli": TOP,
    "streams.worker": TOP,
    "streams.app": TOP,
    "streams.ghl_fetcher": TOP,
}
"""Each component (a package or module) and its layer; a module belongs to its longest prefix."""

EXCEPTIONS: dict[tuple[str, str], str] = {
    ("services.api", "streams.history.store"): (
        "the API's history route reads the history projection through the projection's own "
        "query module; to move into a shared read module of `streams.history`"
    ),
}
"""(importer, imported module) -> why this import still runs up or sideways. The importer is a
module or a package (then any module in it); the imported module is named exactly."""


def component(module: str) -> str | None:
    """The longest `LAYERS` prefix of `module`."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in LAYERS:
            return prefix
    return None


def layer_of(module: str) -> int | None:
    """The layer of a module; every `cli` module is the CLI layer."""
    if module.split(".")[-1] == "cli" or ".cli." in module:
        return TOP
    found = component(module)
    return LAYERS[found] if found else None


def module_name(path: Path) -> str:
    """`services/poller/cli.py` -> `services.poller.cli`."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(
    source: str, module: str, *, is_package: bool, known: frozenset[str] = frozenset()
) -> list[tuple[str, int]]:
    """(imported module, line) of every first-party import in `source`, wherever it stands;
    `from package import name` counts as importing `package.name` when that is a module in
    `known`."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            subs = {f"{target}.{a.name}" for a in node.names} & known
            found.extend((sub, node.lineno) for sub in sorted(subs))
            if not subs or len(subs) < len(node.names):
                found.append((target, node.lineno))
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in {"import_module", "__import__", "find_spec"} and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.append((first.value, node.lineno))
    return [(t, line) for t, line in found if t.split(".")[0] in PACKAGES]


def allowed(importer: str, imported: str) -> bool:
    """Whether `importer` may import `imported` under the layer order."""
    low, high = layer_of(imported), layer_of(importer)
    if low is None or high is None:
        return high is None and low is None  # the bare `services`/`streams` packages
    if high == TOP:
        return True
    if importer.startswith("streams.") and component(imported) == "services.ghl":
        return False  # the entry point builds the GHL fetcher and passes it in
    if low < high:
        return True
    if low == high and high in (SHARED, TOOL):
        return True  # shared I/O pieces use each other; the demo drives the stack
    return component(importer) == component(imported)


def excepted(importer: str, imported: str) -> tuple[str, str] | None:
    """The `EXCEPTIONS` entry that lets `importer` import `imported`, if any."""
    parts = importer.split(".")
    for n in range(len(parts), 0, -1):
        key = (".".join(parts[:n]), imported)
        if key in EXCEPTIONS:
            return key
    return None


def violations(files: dict[str, tuple[str, bool]], known: frozenset[str]) -> list[str]:
    """`importer:line imports target (layer -> layer)` for every import against the order."""
    found = []
    for module, (source, is_package) in sorted(files.items()):
        found_here = imports_of(source, module, is_package=is_package, known=known)
        for target, line in sorted(found_here, key=lambda t: t[1]):
            if allowed(module, target) or excepted(module, target):
                continue
            low, high = layer_of(target), layer_of(module)
            if low is None or high is None:
                why = "outside every layer"
            elif component(target) == "services.ghl":
                why = "streams never imports services.ghl: take the fetcher from the entry point"
            elif low == high:
                why = f"sideways, {LAYER_NAMES[high]} to {LAYER_NAMES[low]}"
            else:
                why = f"up, {LAYER_NAMES[high]} to {LAYER_NAMES[low]}"
            found.append(f"{module}:{line} imports {target} ({why})")
    return found


def _tree() -> dict[str, tuple[str, bool]]:
    files = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            files[module_name(path)] = (path.read_text(), path.name == "__init__.py")
    return files


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m in _tree() if m not in {"services", "streams"} and layer_of(m) is None]
    assert not unplaced, f"place these in LAYERS: {unplaced}"


def test_imports_run_down_and_processes_stay_apart() -> None:
    tree = _tree()
    found = violations(tree, frozenset(tree))
    assert not found, "imports against the layer order:\n" + "\n".join(found)


def test_every_exception_still_matches_an_import() -> None:
    tree = _tree()
    seen = {
        excepted(module, target)
        for module, (source, is_package) in tree.items()
        for target, _ in imports_of(source, module, is_package=is_package, known=frozenset(tree))
    }
    stale = sorted(set(EXCEPTIONS) - seen)
    assert not stale, f"remove these from EXCEPTIONS: {stale}"


def test_the_checker_sees_every_kind_of_import() -> None:
    source = (
        "import importlib\n"
        "from services.writer import run_writer\n"
        "def f():\n"
        "    from services.poller import poller\n"
        "    importlib.import_module('services.simulator')\n"
        "from .. import webhooks\n"
        "from schemas import Contact\n"
        "from streams.normalize import metrics\n"
    )
    found = violations({"services.api.app": (source, False)}, frozenset(_tree()))
    assert [line.split(" ")[0:3] for line in found] == [
        ["services.api.app:2", "imports", "services.writer"],
        ["services.api.app:4", "imports", "services.poller.poller"],
        ["services.api.app:5", "imports", "services.simulator"],
        ["services.api.app:6", "imports", "services.webhooks"],
        ["services.api.app:8", "imports", "streams.normalize.metrics"],
    ]


def test_the_order_itself() -> None:
    assert allowed("services.poller.poller", "schemas.canonical")
    assert allowed("services.ghl._client", "services.db.settings")
    assert allowed("services.poller.cli", "services.status.render")
    assert allowed("streams.worker", "streams.normalize")
    assert allowed("services.status.collect", "services.poller.targets")
    assert not allowed("schemas.raw", "services.webhooks")
    assert not allowed("services.ghl.catalog", "services.simulator")
    assert not allowed("streams.normalize.fetcher", "services.ghl._client")
    assert allowed("streams.ghl_fetcher", "services.ghl")
    assert not allowed("services.webhooks.app", "streams.normalize")
    assert not allowed("services.platform.connections", "services.status")


IO_LIBRARIES = frozenset(
    {"aiokafka", "asyncpg", "faust", "httpx", "fastapi", "uvicorn", "socket", "subprocess"}
)
"""Libraries that talk to the outside; `schemas` (pure contracts) imports none of them."""


def test_schemas_import_no_io_library() -> None:
    found = []
    for path in sorted((ROOT / "schemas").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno} imports {name}"
                for name in names
                if name.split(".")[0] in IO_LIBRARIES
            ]
    assert not found, "\n".join(found)
