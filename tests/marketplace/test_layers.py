"""The layer rule and the no-cycle rule, checked by reading every module's imports.

Layers, lowest first (DESIGN.md, README "Layout"): ``marketplace`` <- ``accounts`` <-
``analytics`` <- ``listings`` <- ``payments`` <- ``reviews`` / ``messaging`` <-
``moderation`` / ``offers`` / ``alerts`` <- ``notifications`` <- ``privacy``. Notifications
sits above every app whose news it tells; privacy (account deletion and export) above every
app whose data it anonymises or exports. A domain module (models, services, selectors, hooks,
subscribers, ledger, lifecycle, search, ...) imports only from its own app and from apps
strictly below it: apps of one layer do not import each other either. News travels upwards
through a lower app's ``hooks.py`` (a higher app's ``subscribers.py`` subscribing to it is a downward import).
Presentation modules (views, URLconfs, admin, forms, consumers, routing, sitemaps, commands,
template tags, middleware, ``apps.py``) may compose any app's selectors.

No module imports itself back through a chain of imports, within an app or across apps.
Both module-level and function-level imports count: an import moved into a function to
dodge a cycle is still the cycle. Imports under ``if TYPE_CHECKING:`` count for layers (the
dependency is real) but not for cycles (nothing runs them). ``from package import name``
where the package's ``__init__`` only re-exports ``name`` from a submodule counts as an
import of that submodule: a re-export is a doorway, not a dependency on the whole package.

The checker reads sources from a mapping, so the tests at the end run it on synthetic code to
prove that it fails when a rule is broken.
"""

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]

LAYERS: tuple[tuple[str, ...], ...] = (
    ("marketplace",),
    ("accounts",),
    ("analytics",),
    ("listings",),
    ("payments",),
    ("reviews", "messaging"),
    ("moderation", "offers", "alerts"),
    ("notifications",),
    ("privacy",),
)
RANK = {app: rank for rank, apps in enumerate(LAYERS) for app in apps}

# A module is presentation when one of its dotted parts (below the app) is one of these, or
# ends with one of the suffixes (``payments.checkout_views``, ``listings.sell_urls``).
PRESENTATION_PARTS = frozenset(
    {
        "views",
        "urls",
        "admin",
        "forms",
        "consumers",
        "routing",
        "sitemaps",
        "apps",
        "middleware",
        "management",  # commands
        "templatetags",
        "asgi",
        "wsgi",
        "settings",
    }
)
PRESENTATION_SUFFIXES = ("_views", "_urls")


@dataclass(frozen=True)
class Source:
    name: str  # dotted: "listings.search" for listings/search/__init__.py
    is_package: bool
    text: str
    path: str = ""


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # a module of the mapping, re-exports followed
    line: int
    type_checking: bool

    def __str__(self) -> str:
        return f"{self.importer}:{self.line} imports {self.target}"


def app_of(module: str) -> str:
    return module.split(".", 1)[0]


def is_presentation(module: str) -> bool:
    parts = module.split(".")[1:]
    return any(part in PRESENTATION_PARTS or part.endswith(PRESENTATION_SUFFIXES) for part in parts)


def read_sources(root: Path = ROOT, apps: Iterable[str] = RANK) -> dict[str, Source]:
    """Every module of ``apps`` under ``root``, migrations left out (they import no app code
    by rule: ``RunPython`` uses ``apps.get_model``)."""
    sources = {}
    for app in apps:
        for path in sorted((root / app).rglob("*.py")):
            relative = path.relative_to(root)
            if "migrations" in relative.parts:
                continue
            parts = list(relative.with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            name = ".".join(parts)
            sources[name] = Source(name, is_package, path.read_text(), str(relative))
    return sources


class _ImportCollector(ast.NodeVisitor):
    """(module, names or None, level, line, under TYPE_CHECKING) for every import statement."""

    def __init__(self):
        self.found: list[tuple[str, list[tuple[str, str]] | None, int, int, bool]] = []
        self._type_checking = 0

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        guarded = (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        )
        self._type_checking += guarded
        for child in node.body:
            self.visit(child)
        self._type_checking -= guarded
        for child in node.orelse:
            self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.found.append((alias.name, None, 0, node.lineno, bool(self._type_checking)))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        names = [(alias.name, alias.asname or alias.name) for alias in node.names]
        self.found.append((node.module or "", names, node.level, node.lineno, bool(self._type_checking)))


def _statements(source: Source):
    collector = _ImportCollector()
    collector.visit(ast.parse(source.text, filename=source.path or source.name))
    return collector.found


def _absolute(source: Source, module: str, level: int) -> str:
    if not level:
        return module
    base = source.name.split(".")
    if not source.is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _reexports(source: Source) -> dict[str, tuple[str, str]]:
    """For a package ``__init__``: bound name -> (module it was imported from, its name there),
    for the module-level ``from x import y`` statements (the re-exports)."""
    exported = {}
    for node in ast.parse(source.text).body:
        if isinstance(node, ast.ImportFrom):
            module = _absolute(source, node.module or "", node.level)
            for alias in node.names:
                exported[alias.asname or alias.name] = (module, alias.name)
    return exported


def _resolve(sources: dict[str, Source], module: str, name: str | None, seen=()) -> str | None:
    """The module of ``sources`` that ``from module import name`` (or ``import module``)
    depends on; None for a module outside the mapping (Django, the standard library)."""
    if name is not None and f"{module}.{name}" in sources:
        return f"{module}.{name}"
    if module not in sources:
        # "import a.b.c" of an unknown leaf, or "from a.b import c" of a missing module:
        # the deepest known package.
        parts = module.split(".")
        while parts and ".".join(parts) not in sources:
            parts.pop()
        return ".".join(parts) or None
    source = sources[module]
    if name is not None and source.is_package and (module, name) not in seen:
        origin = _reexports(source).get(name)
        if origin is not None:
            resolved = _resolve(sources, *origin, (*seen, (module, name)))
            if resolved is not None:
                return resolved
    return module


def imports_of(sources: dict[str, Source]) -> list[Import]:
    """Every import, between modules of ``sources``, of every module of ``sources``."""
    found = []
    for source in sources.values():
        for module, names, level, line, type_checking in _statements(source):
            module = _absolute(source, module, level)
            targets = [_resolve(sources, module, None)] if names is None else []
            for name, _alias in names or ():
                targets.append(_resolve(sources, module, None if name == "*" else name))
            for target in dict.fromkeys(targets):
                if target is not None and target != source.name:
                    found.append(Import(source.name, target, line, type_checking))
    return found


def layer_violations(sources: dict[str, Source]) -> list[str]:
    """Imports by domain modules of modules of the same or a higher layer's other apps."""
    violations = []
    for found in imports_of(sources):
        importer_app, target_app = app_of(found.importer), app_of(found.target)
        if importer_app == target_app or is_presentation(found.importer):
            continue
        if importer_app not in RANK or target_app not in RANK:
            continue
        if RANK[target_app] >= RANK[importer_app]:
            violations.append(f"{found} ({target_app} is not below {importer_app})")
    return sorted(violations)


def import_cycles(sources: dict[str, Source]) -> list[list[str]]:
    """The strongly connected groups of modules (more than one module each), as the import
    lines that hold each group together, with run-time imports only."""
    edges: dict[str, list[Import]] = {name: [] for name in sources}
    for found in imports_of(sources):
        if not found.type_checking:
            edges[found.importer].append(found)

    # Tarjan's algorithm, iterative (no recursion limit on a deep graph).
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            recurse = False
            targets = [found.target for found in edges[node]]
            for offset in range(position, len(targets)):
                target = targets[offset]
                if target not in index:
                    work.append((node, offset + 1))
                    work.append((target, 0))
                    recurse = True
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            if recurse:
                continue
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return [
        sorted(str(found) for member in group for found in edges[member] if found.target in group)
        for group in sorted(groups)
    ]


# --- The project ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sources() -> dict[str, Source]:
    return read_sources()


def test_every_project_app_has_a_layer():
    local = {app.split(".")[0] for app in settings.INSTALLED_APPS if (ROOT / app.split(".")[0]).is_dir()}
    assert local - set(RANK) == set(), "place the new app in LAYERS (and in README's Layout)"
    assert set(RANK) <= local | {"marketplace"}


def test_the_checker_reads_the_project(sources):
    # A guard against a checker that passes because it read nothing.
    assert {"accounts.services", "listings.selectors", "payments.hooks", "reviews.models"} <= set(sources)
    assert len(imports_of(sources)) > 100


def test_domain_modules_import_only_lower_layers(sources):
    assert layer_violations(sources) == []


def test_no_import_cycles(sources):
    assert import_cycles(sources) == []


# --- The checker itself, on synthetic code ---------------------------------------------------


def synthetic(**modules: str) -> dict[str, Source]:
    """``accounts__services="..."`` -> the module ``accounts.services``; a name ending in
    ``__init`` is a package. Every app's package is added empty."""
    sources = {app: Source(app, True, "") for app in RANK}
    for key, text in modules.items():
        parts = key.split("__")
        is_package = parts[-1] == "init"
        if is_package:
            parts.pop()
        name = ".".join(parts)
        sources[name] = Source(name, is_package, text)
    return sources


def test_checker_fails_on_an_upward_import():
    sources = synthetic(
        accounts__services="from payments.models import Transaction\n",
        payments__models="",
    )
    assert layer_violations(sources) == [
        "accounts.services:1 imports payments.models (payments is not below accounts)"
    ]


@pytest.mark.parametrize(
    "text",
    [
        "def ban():\n    from payments.models import Transaction\n",  # function-level
        "import payments.models\n",
        "from payments import models\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from payments.models import Transaction\n",
    ],
    ids=["function-level", "import-dotted", "from-package", "type-checking"],
)
def test_checker_fails_on_every_form_of_upward_import(text):
    sources = synthetic(accounts__services=text, payments__models="")
    assert [v.split(" imports ")[1] for v in layer_violations(sources)] == [
        "payments.models (payments is not below accounts)"
    ]


def test_checker_fails_when_top_apps_import_each_other():
    sources = synthetic(reviews__services="from messaging.models import Message\n", messaging__models="")
    assert len(layer_violations(sources)) == 1


def test_checker_allows_downward_imports_presentation_and_subscribers():
    sources = synthetic(
        accounts__hooks="from marketplace.events import Hook\n",
        accounts__views="from reviews.selectors import user_latest_reviews\n",
        accounts__admin="from payments.models import Transaction\n",
        accounts__management__commands__ban="from listings.models import Listing\n",
        payments__checkout_views="from reviews.models import Review\n",
        listings__subscribers="from accounts import hooks\n",
        listings__services="from .subscribers import retire\nfrom accounts.services import ensure\n",
        payments__models="",
        reviews__selectors="",
        reviews__models="",
        listings__models="",
        accounts__services="",
        marketplace__events="",
    )
    assert layer_violations(sources) == []


def test_checker_resolves_relative_imports():
    sources = synthetic(
        payments__services__init="",
        payments__services__refunds="from ...reviews.models import Review\n",
        reviews__models="",
    )
    # "from ...reviews" from payments/services/refunds.py climbs to the root: reviews.models.
    assert layer_violations(sources) == [
        "payments.services.refunds:1 imports reviews.models (reviews is not below payments)"
    ]


def test_checker_finds_a_cycle_hidden_in_a_function():
    sources = synthetic(
        listings__search="from listings.selectors import public_listings\n",
        listings__selectors="def facets():\n    from listings.search import run_search\n",
    )
    assert import_cycles(sources) == [
        [
            "listings.search:1 imports listings.selectors",
            "listings.selectors:2 imports listings.search",
        ]
    ]


def test_checker_finds_a_cycle_across_apps_and_through_three_modules():
    sources = synthetic(
        payments__services="from payments.webhooks import charge_id\n",
        payments__webhooks="from payments.emails import send\n",
        payments__emails="from payments.services import lock\n",
        listings__models="from payments.models import X\n",
        payments__models="from listings.models import Listing\n",
    )
    cycles = import_cycles(sources)
    assert len(cycles) == 2
    assert {line.split(":")[0] for line in cycles[1]} == {
        "payments.emails",
        "payments.services",
        "payments.webhooks",
    }


def test_a_package_reexport_leads_to_the_submodule_not_the_whole_package():
    modules = {
        "listings__search__init": "from listings.search.query import run_search\n",
        "listings__search__query": "from listings.models import Listing\n",
        "listings__selectors": "from listings.search import run_search\n",
        "listings__models": "",
    }
    assert import_cycles(synthetic(**modules)) == []
    assert Import("listings.selectors", "listings.search.query", 1, False) in imports_of(synthetic(**modules))

    # The submodule importing its importer is a cycle all the same.
    modules["listings__search__query"] = "from listings.selectors import public_listings\n"
    assert import_cycles(synthetic(**modules)) == [
        [
            "listings.search.query:1 imports listings.selectors",
            "listings.selectors:1 imports listings.search.query",
        ]
    ]


def test_imports_under_type_checking_are_no_cycle():
    sources = synthetic(
        payments__ledger="from payments.models import Transaction\n",
        payments__models=(
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from payments.ledger import X\n"
        ),
    )
    assert import_cycles(sources) == []


@pytest.mark.parametrize(
    ("module", "presentation"),
    [
        ("accounts.views", True),
        ("listings.views.detail", True),
        ("payments.checkout_views", True),
        ("listings.sell_urls", True),
        ("accounts.admin", True),
        ("accounts.forms", True),
        ("listings.apps", True),
        ("payments.management.commands.reconcile", True),
        ("marketplace.templatetags.marketplace_tags", True),
        ("accounts.services", False),
        ("accounts.hooks", False),
        ("listings.subscribers", False),
        ("listings.search.form", False),
        ("payments.services.refunds", False),
        ("payments.ledger", False),
        ("payments.gateway.stripe_gateway", False),
    ],
)
def test_presentation_modules(module, presentation):
    assert is_presentation(module) is presentation
