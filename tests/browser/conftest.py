"""Fixtures of the browser tests: a student's folder, JupyterLab serving it, headless Chromium driving it.

Every test in this folder is marked `browser` and `slow` (tests/conftest.py's MARKS; run them alone with
`pytest -m browser`, leave them out with `-m "not browser"`). They are skipped, with the reason, where Chromium or Playwright is missing. Needs:
  apt-get install -y chromium chromium-driver      (Debian's Chromium; Playwright cannot download one here)
  pip install playwright                           (the Python package only; no `playwright install`)
In CI (environment variable CI set) a missing one fails instead (tests/conftest.py's `require`). Set
CHROMIUM=/path/to/chromium to use another build. Screenshots and the server's log are kept in
test-artifacts/browser/ at the repository root.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from autograder.paths import ASSIGNMENT, RELEASE
from .browser_env import ARTIFACTS, CHROMIUM_ARGS, chromium_path, missing_requirement


@pytest.fixture(scope="session")
def browser_requirements():
    shutil.rmtree(ARTIFACTS, ignore_errors=True)  # the folder shows the last run only, no stale notebooks
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # Screenshots and logs are never committed (the root .gitignore should also name /test-artifacts/).
    (ARTIFACTS / ".gitignore").write_text("*\n")
    from conftest import require  # tests/conftest.py: skip here, fail in CI (where CI is set)

    reason = missing_requirement()
    require(reason is None, reason or "")


@pytest.fixture(scope="session")
def student_home(browser_requirements):
    """A student's folder: the released assignment copied as nbgrader's fetch would leave it."""
    top = Path(tempfile.mkdtemp(prefix="student-path-"))
    home = top / "home"
    shutil.copytree(RELEASE / ASSIGNMENT, home / ASSIGNMENT)
    try:
        yield home
    finally:
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="session")
def lab(student_home):
    from .lab_server import start_lab, stop_lab

    server = start_lab(student_home, ARTIFACTS / "jupyterlab.log")
    try:
        yield server
    finally:
        stop_lab(server)


@pytest.fixture(scope="session")
def instructor_lab(browser_requirements):
    """JupyterLab started from a copy of the course root (nbgrader_config.py, source/, release/), as an
    instructor starts it: the formgrader reads the course's config from the working directory. A copy, so its
    fresh gradebook.db never touches the repository's."""
    from .lab_server import start_lab, stop_lab

    from conftest import make_course_copy  # tests/conftest.py

    top = Path(tempfile.mkdtemp(prefix="instructor-"))
    course = make_course_copy(top / "course")
    server = start_lab(course, ARTIFACTS / "jupyterlab-instructor.log")
    try:
        yield server
    finally:
        stop_lab(server)
        shutil.rmtree(top, ignore_errors=True)


# Package scope, not session: Playwright's sync API refuses to start while another of its instances is open in the
# same thread, and tests/test_hub.py starts its own after these tests (the full run failed that way).
@pytest.fixture(scope="package")
def browser(browser_requirements):
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    with sync_playwright() as playwright:
        # A persistent context is the way to give Chromium a fresh user-data dir of our own.
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000}, timeout=60_000,
        )
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.browser_call_failed = report.failed


@pytest.fixture
def page(request, browser, lab):
    yield from _page(request, browser, lab)


@pytest.fixture
def instructor_page(request, browser, instructor_lab):
    yield from _page(request, browser, instructor_lab)


def _page(request, browser, lab):
    page = browser.new_page()
    page.set_default_timeout(30_000)
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    name = request.node.name.replace("/", "_").replace("[", "-").rstrip("]")
    try:
        yield page
    finally:
        if console:  # the browser's own complaints (JupyterLab or nbgrader's extension), for whoever debugs
            (ARTIFACTS / f"console-{name}.txt").write_text("\n".join(console) + "\n")
        if getattr(request.node, "browser_call_failed", False):
            # What the page showed when the test failed, beside the moments it had saved.
            try:
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / f"FAILED-{name}.png"), timeout=10_000)
            except Exception:
                pass
        page.close()
        lab.shutdown_kernels()
