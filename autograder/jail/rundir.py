"""The jail's temporary files: one folder per grading process, `/tmp/ag-jail-*`, holding everything the jail writes
(the zygote's staged code, socket and seccomp program; every kernel's runtime folder: sockets, staged checks,
scratch copy), removed by the process that created it on every exit it gets to run code in, and by the next grading
process when it did not (SIGKILL, a power cut).

How a folder's owner is known to be gone: the owner holds an exclusive `flock` on the folder's `lock` file for its
whole life; the kernel releases it when the process ends, however it ends (no pid file: a pid can be reused). A
folder appears under its final name only once its lock is held (it is made under a `.ag-jail-new-` name first and
renamed), so a sweeping process never takes a starting one for a dead one.

Exit paths: interpreter exit (atexit) and the end of a multiprocessing worker (`lab autograde`'s pebble pool, Dask's
worker processes), which leaves with `os._exit` after running multiprocessing's finalizers, not atexit: the folder's
removal is one of those finalizers (multiprocessing's own atexit hook runs them in the main process too). A pebble
worker's pool sends SIGTERM as it closes the very pipe whose end makes an idle worker leave on its own: a SIGTERM
that lands once that exit has begun makes pebble's handler skip the finalizers (multiprocessing runs them once per
process) and `os._exit` at once, which left the folder in about 1 pool close of 3 (measured). The folder's removal
therefore also runs in that handler, ahead of it (_guard_sigterm).
Under /tmp, not $TMPDIR: a kernel forked from the zygote mounts a fresh /tmp over it, which hides the folder (the
other kernels' runtime folders, the zygote's socket) from that kernel.
"""
from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
from multiprocessing import util as mp_util
from pathlib import Path

log = logging.getLogger(__name__)

PARENT = "/tmp"
PREFIX = "ag-jail-"
NEW_PREFIX = ".ag-jail-new-"
LOCK = "lock"
NEW_GRACE_S = 600  # a folder still under its first name after this long was left by a process killed while making it
# multiprocessing finalizers run higher priorities first: the folder goes first, then the zygotes are stopped. A
# pebble worker (lab autograde) runs them on SIGTERM and is killed 3 s later: stopping a zygote can take longer
# than that on a busy machine, which left the folders of both workers of a run (measured). A zygote whose folder is
# gone only waits for its lifeline to close; no kernel runs by then.
REMOVE_PRIORITY, STOP_PRIORITY = 20, 10
# first of all of this process's finalizers: it marks that the process's own exit has begun (see _guard_sigterm)
EXIT_BEGAN_PRIORITY = 1_000_000

# reentrant: remove() also runs from a signal handler, in the main thread, which may be inside folder() or remove()
_lock = threading.RLock()
_state: dict = {"pid": None, "folder": None, "fd": None, "exiting": False}


def _locked_fd(path: Path) -> int | None:
    """An open descriptor on `path` with an exclusive flock taken, or None if another process holds it."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return None
        raise
    return fd


def sweep(parent: str = PARENT) -> list[Path]:
    """Removes the jail folders (this user's) whose process is gone; returns them."""
    removed = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    me = os.geteuid()
    for entry in entries:
        if not entry.name.startswith((PREFIX, NEW_PREFIX)):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not entry.is_dir(follow_symlinks=False) or st.st_uid != me:
            continue  # another user's (or not a folder): not ours to judge
        path = Path(entry.path)
        if entry.name.startswith(NEW_PREFIX):
            if time.time() - st.st_mtime < NEW_GRACE_S:
                continue  # being made right now, perhaps
            fd = None
        else:
            fd = _locked_fd(path / LOCK)
            if fd is None and (path / LOCK).exists():
                continue  # its process (or a child of it that inherited the lock) is alive
        try:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            if fd is not None:
                os.close(fd)
        if not path.exists():
            removed.append(path)
    if removed:
        log.info("removed %d jail folder(s) left by grading processes that were killed: %s", len(removed),
                 ", ".join(p.name for p in removed))
    return removed


def folder() -> Path:
    """This process's jail folder, made (after a sweep of dead processes' folders) on first use."""
    with _lock:
        if _state["pid"] != os.getpid():
            # a forked worker: the parent's folder is the parent's (its lock descriptor, inherited, stays open so
            # that the parent's folder is not swept while this worker, which may still use it, lives)
            _state.update(pid=os.getpid(), folder=None, fd=None, exiting=False)
        if _state["folder"] is None:
            sweep()
            new = Path(tempfile.mkdtemp(prefix=NEW_PREFIX, dir=PARENT))
            fd = _locked_fd(new / LOCK)
            if fd is None:
                raise RuntimeError(f"cannot lock {new / LOCK}")
            os.chmod(new, 0o711)  # kernels (other uids) reach their runtime folders inside; they cannot list it
            final = Path(PARENT) / (PREFIX + new.name[len(NEW_PREFIX):])
            os.rename(new, final)
            _state.update(folder=final, fd=fd)
            mp_util.Finalize(None, _exit_began, args=(os.getpid(),), exitpriority=EXIT_BEGAN_PRIORITY)
            mp_util.Finalize(None, remove, args=(os.getpid(),), exitpriority=REMOVE_PRIORITY)
            _guard_sigterm()
        return _state["folder"]


def _guard_sigterm() -> None:
    """Wraps this process's Python SIGTERM handler (pebble's worker: run the finalizers, then `os._exit`) so that a
    SIGTERM to pebble's handler, or to any handler while the process is already exiting, removes the folder before
    that handler ends the process: multiprocessing runs its exit finalizers once per process, so the handler's own run of them is then a
    no-op, and the exit under way (which may not have reached the folder's finalizer yet, or be inside it) is cut
    short by its `os._exit`. Outside an exit the signal goes to the handler untouched: a handler that does not end
    the process (a graceful shutdown) must not lose the folder of kernels still running."""
    if threading.current_thread() is not threading.main_thread():
        log.debug("jail folder made outside the main thread: SIGTERM during exit not guarded")
        return  # signal.signal only works there; the worker's own exit still removes the folder
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous) or getattr(previous, "_ag_jail_guard", False):
        return  # SIG_DFL/SIG_IGN: no Python code runs on SIGTERM (SIG_DFL: the next grading process sweeps it)

    ends_the_process = _is_pebbles_exit(previous)

    def on_sigterm(signum, frame):
        # a forked child inherits this handler and, until it makes its own, the parent's folder in _state: not its own
        if (ends_the_process or _state["exiting"]) and _state["pid"] == os.getpid():
            remove(os.getpid())
        previous(signum, frame)

    on_sigterm._ag_jail_guard = True
    signal.signal(signal.SIGTERM, on_sigterm)


def _is_pebbles_exit(handler) -> bool:
    """Whether `handler` is the SIGTERM handler pebble installs in its workers (`pebble.common.process_exit`: it runs
    the exit finalizers, a no-op once an exit is under way, then always `os._exit`s): the folder can go first."""
    try:
        from pebble.common import process_exit
    except ImportError:
        return False
    return handler is process_exit


def _exit_began(pid: int) -> None:
    """The first finalizer multiprocessing runs when this process exits (a worker's return, or the interpreter's
    atexit): from here on, a SIGTERM removes the folder before pebble's handler ends the process. (multiprocessing's
    own flag for this, util._exiting, is private.)"""
    if pid == os.getpid():
        _state["exiting"] = True


def remove(pid: int) -> None:
    """Removes this process's folder (called at exit; a no-op in any other process than `pid`)."""
    if pid != os.getpid():
        return
    with _lock:
        path = _state["folder"]
    if path is None:
        return
    # the state is cleared only once the folder is gone: a SIGTERM handler that interrupts this rmtree (and then
    # ends the process) runs remove() again and finishes it
    shutil.rmtree(path, ignore_errors=True)
    with _lock:
        if _state["folder"] != path:
            return  # a nested run (the signal handler) finished it and closed the lock
        fd = _state["fd"]
        _state.update(folder=None, fd=None)
    if fd is not None:
        os.close(fd)
