"""The grading process's side of the zygote (zygote.py): started on the first notebook that needs it, kept for the
life of this process, reached by the kernel launcher (launch.py) over a Unix socket.

The spool is this grading process's jail folder (rundir.py, under /tmp): the kernels' runtime folders are created
there so that the zygote's base jail, which binds it, can hand each child its own. One zygote per notebook-folder root: a
child mounts the notebook's scratch copy at the notebook's own path, which needs an empty directory of the base
jail above it (`<course>/autograded`, from the notebook's folder `<course>/autograded/<student>/<assignment>`);
under /tmp none is needed (the child's /tmp is its own). Where the fast path is not possible (sandboxed but not
root: bwrap's user namespace leaves a child no right to mount; a folder whose root would hide the Python
installation) or the zygote does not start, the caller gets None and the kernel starts as before, per notebook.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from multiprocessing import util as mp_util

from . import rundir, syscalls
from .launch import finish_jail, jail_base, python_roots, seed_matplotlib_cache, stage_python

log = logging.getLogger(__name__)

FAST_START_ENV = "AG_FAST_START"  # "1": SandboxedExecute.fast_start
START_TIMEOUT_S = 300  # torch's import on a busy machine; a zygote that is not up by then is given up on
STASH = "/.ag-stash"  # zygote.STASH (not imported here: zygote.py loads ctypes and libc at import)
KEEP_PREFIX, KEEP_ENV = "/.ag-keep-", "AG_ZYGOTE_KEEP"  # zygote.KEEP_PREFIX, zygote.KEEP_ENV
SECCOMP_ENV = "AG_ZYGOTE_SECCOMP"  # zygote.SECCOMP_ENV: the file holding the kernels' system-call filter


@dataclass
class Zygote:
    process: subprocess.Popen
    socket: str
    mount_base: str


_lock = threading.Lock()
_state: dict = {"pid": None}


def _mine() -> dict:
    """This process's spool and zygotes (a forked worker starts its own: the parent's zygote is not its)."""
    if _state["pid"] != os.getpid():
        _state.update(pid=os.getpid(), zygotes={}, failed=set(), count=0, stop_registered=False)
    return _state


def possible(sandboxed: bool) -> bool:
    return os.geteuid() == 0 if sandboxed else True


def spool() -> Path:
    """Where this process's kernels get their runtime folders, and its zygotes their files: its jail folder."""
    return rundir.folder()


def mount_base(cwd: Path) -> str | None:
    """The directory of the base jail that a child covers with its own tmpfs to show its notebook's folder, or
    None where covering it would hide what every kernel needs."""
    cwd = cwd.resolve()
    if cwd.is_relative_to("/tmp") and cwd != Path("/tmp"):
        return "/tmp"
    base = cwd.parent.parent
    needed = [Path(p) for p in [*python_roots(), "/usr", "/etc", "/proc", "/dev", "/bin", "/lib", "/lib64", "/sbin"]]
    if base == Path("/") or any(p == base or p.is_relative_to(base) or base.is_relative_to(p) for p in needed):
        return None
    return str(base)


def zygote_env(stage: Path, mpl: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("LANG", "LC_ALL", "TZ")}
    keep.update({
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp/home", "TMPDIR": "/tmp", "MPLCONFIGDIR": str(mpl), "FONTCONFIG_FILE": "/etc/fonts/fonts.conf",
        "XDG_CACHE_HOME": "/tmp/home/.cache", "MPLBACKEND": "agg", "PYTHONPATH": str(stage),
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",  # no thread pool before the fork; kernels set their own
    })
    return keep


def zygote_for(cwd: Path, sandboxed: bool) -> Zygote | None:
    """The running zygote for notebooks in `cwd`, started if needed; None: start this kernel the slow way."""
    if not possible(sandboxed):
        return None
    base = mount_base(cwd) if sandboxed else "-"
    if base is None:
        return None
    folder = spool()
    with _lock:
        state = _mine()
        key = (sandboxed, base)
        zygote = state["zygotes"].get(key)
        if zygote is not None and zygote.process.poll() is None:
            return zygote
        if key in state["failed"]:
            return None
        try:
            zygote = _start(folder, base, sandboxed, state)
        except Exception as exc:  # noqa: BLE001 -- grading goes on, a kernel per notebook as before
            log.warning("the zygote did not start (%s); kernels start one by one, each importing torch", exc)
            state["failed"].add(key)
            return None
        state["zygotes"][key] = zygote
        return zygote


def _start(folder: Path, base: str, sandboxed: bool, state: dict) -> Zygote:
    state["count"] += 1
    n = state["count"]
    stage, mpl = folder / f"py-{n}", folder / f"mpl-{n}"
    stage_python(stage)
    mpl.mkdir()
    seed_matplotlib_cache(mpl)
    sock = folder / f"zygote-{n}.sock"
    env = zygote_env(stage, mpl)
    python = [sys.executable, "-s", "-m", "autograder.jail.zygote", str(sock)]
    if sandboxed:
        # the zygote applies it to each kernel it forks (it cannot apply it to itself: it mounts for them)
        env[SECCOMP_ENV] = str(syscalls.program_file(folder))
        cmd = jail_base(True, [str(folder)] + ([base] if base != "/tmp" else []))
        cmd += ["--bind", str(folder), str(folder), "--dir", STASH]
        # a Python installation under /tmp (a clone there) would vanish under each child's fresh /tmp: the child
        # moves it aside first (zygote.isolate), to these empty directories of the base jail
        kept = [root for root in python_roots() if Path(root).is_relative_to("/tmp")]
        for i in range(len(kept)):
            cmd += ["--dir", f"{KEEP_PREFIX}{i}"]
        env[KEEP_ENV] = os.pathsep.join(kept)
        if base != "/tmp":
            cmd += ["--dir", base]
        cmd = finish_jail(cmd, env) + ["--chdir", "/", *python]
        process = subprocess.Popen(cmd, stdin=subprocess.PIPE, start_new_session=True)
    else:
        process = subprocess.Popen(python + ["--unsandboxed"], stdin=subprocess.PIPE, env=env, cwd=folder,
                                   start_new_session=True)
    started = time.monotonic()
    while not sock.exists():  # the zygote renames its socket into place once it listens
        if process.poll() is not None:
            raise RuntimeError(f"it exited with status {process.returncode}")
        if time.monotonic() - started > START_TIMEOUT_S:
            process.kill()
            raise RuntimeError(f"not ready after {START_TIMEOUT_S} s")
        time.sleep(0.05)
    log.info("zygote %s ready in %.1f s (%s)", n, time.monotonic() - started, "sandboxed" if sandboxed else "unsandboxed")
    if not state["stop_registered"]:
        # at interpreter exit and at the end of a multiprocessing worker, which does not run atexit (after the jail
        # folder's removal: see rundir.REMOVE_PRIORITY)
        mp_util.Finalize(None, _shutdown, args=(os.getpid(),), exitpriority=rundir.STOP_PRIORITY)
        state["stop_registered"] = True
    return Zygote(process, str(sock), base)


def _shutdown(pid: int) -> None:
    if pid != os.getpid():
        return
    state = _mine()
    zygotes = list(state["zygotes"].values())
    state["zygotes"].clear()
    for zygote in zygotes:  # every lifeline first: the zygotes end together, not one after the other
        try:
            zygote.process.stdin.close()  # its lifeline: the zygote exits, bwrap takes its jail down
        except OSError:
            pass
    deadline = time.monotonic() + 2
    for zygote in zygotes:
        try:
            zygote.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            zygote.process.kill()  # bwrap; the zygote inside still ends on its closed lifeline
