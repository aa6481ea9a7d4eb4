"""Run nbgrader's command line for a course root, with the environment it needs."""
from __future__ import annotations

import os
import signal
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
                 env: dict[str, str] | None = None, timeout: float | None = None) -> subprocess.CompletedProcess:
    """`nbgrader ARGS` in course_root (where its nbgrader_config.py is read).

    It runs in its own process group, so that a timeout stops nbgrader AND the kernels it started.
    """
    cmd = [sys.executable, "-m", "nbgrader", *args]
    pipe = subprocess.PIPE if quiet else None
    with subprocess.Popen(cmd, cwd=course_root, env=nbgrader_env(env), text=True, stdout=pipe, stderr=pipe,
                          start_new_session=True) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            tail = ((stdout or "") + (stderr or ""))[-2000:]
            raise TimeoutError(f"`nbgrader {' '.join(args)}` ran longer than {timeout:.0f}s and was stopped\n{tail}")
    result = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
    if check and result.returncode != 0:
        detail = (stdout or "") + (stderr or "")
        raise RuntimeError(f"`nbgrader {' '.join(args)}` failed (exit {result.returncode}) in {course_root}\n{detail}")
    return result
