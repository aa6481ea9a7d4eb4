"""Digests of files: what decides that a grade, a worker or a built notebook is out of date. Written once, for the
three places that ask: autograde's regrade manifest, the cluster's check that every worker runs the submitting
machine's code, and the build's stamps (.build-stamps.json)."""
from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from .paths import content_dir

PACKAGE = Path(__file__).resolve().parent  # the engine
ROOT = PACKAGE.parent  # where both packages are (the repository, or site-packages): digests name files from here


def digest_files(paths: Iterable[Path], root: Path, salt: str = "") -> str:
    """sha256 of each file's name (relative to root; the bare name outside it) and bytes, in sorted order; a missing
    file counts as such, so that deleting one changes the digest."""
    h = hashlib.sha256(salt.encode())
    for path in sorted(set(paths)):
        name = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
        h.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"<missing>") + b"\0")
    return h.hexdigest()


def grading_code_files() -> list[Path]:
    """The one definition of "grading code": every module of the engine (the jail, nbgrader's extensions, the
    grading processes, the probes' framework and wire...) and of the course's content package (probes, judges,
    provided code). A change in any of them may change a grade, so it regrades everyone, and a worker that differs
    is refused. (The answer variants are test data, outside both: tests/variants.)"""
    content = content_dir()
    return sorted(p for package in (PACKAGE, content) for p in package.rglob("*.py") if "__pycache__" not in p.parts)


@lru_cache(maxsize=None)
def grading_code_digest() -> str:
    """The grading code and the versions that decide a grade (Python, torch, nbgrader)."""
    from importlib.metadata import version

    salt = f"python {sys.version_info[:2]} torch {version('torch')} nbgrader {version('nbgrader')}"
    return digest_files(grading_code_files(), ROOT, salt)
