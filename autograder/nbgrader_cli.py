"""Run nbgrader's command line for a course root, with the environment it needs."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .paths import REPO


def nbgrader_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # nbgrader shells out to `alembic` for its database migrations: this environment's bin/ must be on PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra or {})
    return env


def run_nbgrader(*args: str, course_root: Path = REPO, check: bool = True, quiet: bool = False,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`nbgrader ARGS` in course_root (where its nbgrader_config.py is read)."""
    cmd = [sys.executable, "-m", "nbgrader", *args]
    result = subprocess.run(cmd, cwd=course_root, env=nbgrader_env(env), text=True,
                            capture_output=quiet)
    if check and result.returncode != 0:
        detail = (result.stdout or "") + (result.stderr or "") if quiet else ""
        raise RuntimeError(f"`nbgrader {' '.join(args)}` failed (exit {result.returncode}) in {course_root}\n{detail}")
    return result
