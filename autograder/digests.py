"""Digests of files: what decides that a grade, a worker or a built notebook is out of date. Written once, for the
three places that ask: autograde's regrade manifest, the cluster's check that every worker runs the submitting
machine's code, and the build's stamps (.build-stamps.json)."""
from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
# Test data, not grading code: the answer variants (the example class builds submissions from them, and a
# submission's own files are in its digest).
NOT_GRADING_CODE = frozenset({"variants"})


def digest_files(paths: Iterable[Path], root: Path, salt: str = "") -> str:
    """sha256 of each file's name (relative to root; the bare name outside it) and bytes, in sorted order; a missing
    file counts as such, so that deleting one changes the digest."""
    h = hashlib.sha256(salt.encode())
    for path in sorted(set(paths)):
        name = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
        h.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"<missing>") + b"\0")
    return h.hexdigest()


def grading_code_files() -> list[Path]:
    """The one definition of "grading code": every module of the package (probes, judges, provided code, the jail,
    nbgrader's extensions, the grading processes, the wire format...), all but the answer variants. A change in any
    of them may change a grade, so it regrades everyone, and a worker that differs is refused."""
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts
                  and p.relative_to(PACKAGE).parts[0] not in NOT_GRADING_CODE)


@lru_cache(maxsize=None)
def grading_code_digest() -> str:
    """The grading code and the versions that decide a grade (Python, torch, nbgrader)."""
    from importlib.metadata import version

    salt = f"python {sys.version_info[:2]} torch {version('torch')} nbgrader {version('nbgrader')}"
    return digest_files(grading_code_files(), PACKAGE, salt)
