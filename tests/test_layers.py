"""The layers' dependencies point one way (ARCHITECTURE.md): checked on the imports themselves."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Nothing below the application layer is imported by the CLI any more (the capture command
# goes through isnad.app.runtime since the runtime commit).
CAPTURE_COMMAND_IMPORTS: set[tuple[str, str]] = set()

# What an interface may take from Isnad's own packages: the application layer, the settings,
# and the version; and the web interface (`isnad serve` starts it: a sibling interface, not a
# layer below).
INTERFACE_MAY_IMPORT = ("isnad.app", "isnad.config", "isnad.logs", "isnad.web")
OURS = ("archiver", "crawlers", "scheduler", "isnad")

# archiver/ is the evidence library: usable alone, by any crawler or importer.
ARCHIVER_MUST_NOT_IMPORT = ("isnad", "crawlers", "scheduler", "scrapy", "scrapy_playwright",
                            "playwright", "twisted", "apscheduler")


def imports(source: str, package: str) -> list[tuple[str, str | None]]:
    """Every (module, name) imported anywhere in ``source`` (also inside functions and
    ``TYPE_CHECKING`` blocks), relative imports resolved against ``package`` (the dotted
    package the module is in); ``import x.y`` gives ``("x.y", None)``."""
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([module] if module else [])])
            found += [(module, alias.name) for alias in node.names]
    return found


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def interface_violations(source: str, allowed: set[tuple[str, str | None]]) -> list[str]:
    """The imports of an interface module that reach past the application layer."""
    bad = []
    for module, name in imports(source, "isnad"):
        if (module, name) in allowed or _within(module, INTERFACE_MAY_IMPORT):
            continue
        if module == "isnad" and name in ("__version__", "app"):
            continue
        if _within(module, OURS):
            bad.append(f"{module}: {name}" if name else module)
    return bad


def test_cli_reaches_nothing_below_the_application_layer() -> None:
    source = (ROOT / "isnad" / "cli.py").read_text(encoding="utf-8")
    assert interface_violations(source, CAPTURE_COMMAND_IMPORTS) == []


def test_the_web_app_reaches_nothing_below_the_application_layer() -> None:
    """The web app and API (issue 15) go through isnad.app, as the CLI does."""
    for path in sorted((ROOT / "isnad" / "web").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        assert interface_violations(source, set()) == [], path.name


def test_capture_exceptions_are_still_imported() -> None:
    """A name the capture command no longer imports leaves the list (it must not stay allowed)."""
    source = (ROOT / "isnad" / "cli.py").read_text(encoding="utf-8")
    assert CAPTURE_COMMAND_IMPORTS - set(imports(source, "isnad")) == set()


@pytest.mark.parametrize("source, reached", [
    ("from archiver.audit import run_audit\n", ["archiver.audit: run_audit"]),
    ("def f():\n    from archiver.reindex import reindex\n", ["archiver.reindex: reindex"]),
    ("import crawlers.netguard\n", ["crawlers.netguard"]),
    ("from isnad import output\n", ["isnad: output"]),
    ("from isnad.export import export_bundle\n", ["isnad.export: export_bundle"]),
    ("from archiver.catalog import COMPLETE, FAILED\n",
     ["archiver.catalog: COMPLETE", "archiver.catalog: FAILED"]),
    ("from .service import capture\n", ["isnad.service: capture"]),
    ("from . import output\n", ["isnad: output"]),
    ("from isnad import __version__, app\nfrom isnad.app import records\nimport typer\n", []),
    ("from .app import records\nfrom .config import Settings\n", []),
])
def test_interface_check_catches_what_reaches_past(source: str, reached: list[str]) -> None:
    """The check itself: an import below the layer, even inside a function, is caught."""
    assert interface_violations(source, CAPTURE_COMMAND_IMPORTS) == reached


def archiver_violations(source: str, package: str) -> list[str]:
    """The imports of an ``archiver`` module that it must not make."""
    return [f"{module}: {name}" if name else module
            for module, name in imports(source, package)
            if _within(module, ARCHIVER_MUST_NOT_IMPORT)]


def test_archiver_imports_nothing_of_ours_nor_crawling() -> None:
    paths = sorted((ROOT / "archiver").rglob("*.py"))
    assert paths, "archiver/ not found"
    bad = {str(path.relative_to(ROOT)): archiver_violations(
        path.read_text(encoding="utf-8"), ".".join(path.relative_to(ROOT).parent.parts))
        for path in paths}
    assert {path: found for path, found in bad.items() if found} == {}


@pytest.mark.parametrize("source, reached", [
    ("import scrapy\n", ["scrapy"]),
    ("from playwright.sync_api import sync_playwright\n", ["playwright.sync_api: sync_playwright"]),
    ("def f():\n    from isnad.config import Settings\n", ["isnad.config: Settings"]),
    ("from crawlers.netguard import check_target\n", ["crawlers.netguard: check_target"]),
    ("from twisted.internet import reactor\n", ["twisted.internet: reactor"]),
    ("from ..storage import Storage\nfrom .base import StoredObject\nimport warcio\n", []),
])
def test_archiver_check_catches_what_it_must_not_import(source: str, reached: list[str]
                                                        ) -> None:
    assert archiver_violations(source, "archiver.storage") == reached


# scheduler/ enqueues and runs housekeeping; it never crawls. The app layer wires it up
# (isnad/app/schedules.py), so it imports nothing of isnad/ either.
SCHEDULER_MUST_NOT_IMPORT = ("isnad", "crawlers", "scrapy", "scrapy_playwright", "playwright",
                             "twisted")


def scheduler_violations(source: str, package: str) -> list[str]:
    """The imports of a ``scheduler`` module that it must not make."""
    return [f"{module}: {name}" if name else module
            for module, name in imports(source, package)
            if _within(module, SCHEDULER_MUST_NOT_IMPORT)]


def test_scheduler_never_crawls() -> None:
    paths = sorted((ROOT / "scheduler").rglob("*.py"))
    assert len(paths) > 1, "scheduler/ not found"
    bad = {str(path.relative_to(ROOT)): scheduler_violations(
        path.read_text(encoding="utf-8"), ".".join(path.relative_to(ROOT).parent.parts))
        for path in paths}
    assert {path: found for path, found in bad.items() if found} == {}


@pytest.mark.parametrize("source, reached", [
    ("import scrapy\n", ["scrapy"]),
    ("def f():\n    from crawlers.spiders import page\n", ["crawlers.spiders: page"]),
    ("from playwright.async_api import Page\n", ["playwright.async_api: Page"]),
    ("from isnad.app import capture\n", ["isnad.app: capture"]),
    ("from archiver.catalog import UTCDateTime\nfrom .state import RunLedger\n"
     "import apscheduler\n", []),
])
def test_scheduler_check_catches_crawling(source: str, reached: list[str]) -> None:
    assert scheduler_violations(source, "scheduler") == reached
