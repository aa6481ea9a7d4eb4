"""Where the browser tests find Chromium, Playwright and the release notebooks, and keep their artefacts."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from autograder.paths import ASSIGNMENT, RELEASE, REPO

ARTIFACTS = REPO / "test-artifacts" / "browser"

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    # Without these Chromium keeps trying to reach Google's services (the network here is loopback only).
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-dev-shm-usage",
]


def chromium_path() -> str | None:
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def missing_requirement() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright)"
    if chromium_path() is None:
        return "Chromium is not installed (apt-get install -y chromium chromium-driver, or set CHROMIUM)"
    return None


def release_notebooks() -> list[Path]:
    return sorted((RELEASE / ASSIGNMENT).glob("*.ipynb"))
