"""Grading kernels in a sandbox: every notebook nbgrader autogrades runs in its own bubblewrap (bwrap) jail.

How it plugs in: nbgrader_config.py replaces nbgrader's `Execute` preprocessor with
`autograder.nbgrader_ext.execute.SandboxedExecute`, so every `nbgrader autograde` (one process for the class or one per
student) starts each notebook's kernel through `python -m autograder.jail.launch`, which:

- runs it under bwrap with new user, pid, network, IPC, UTS and cgroup namespaces (no network at all: the kernel
  talks to nbgrader over Unix sockets, Jupyter's `ipc` transport), a read-only view of /usr and of the Python
  installation only, an empty /tmp, and, at the notebook's path, a throw-away copy of the student's folder without
  its notebooks; nothing of the course root (source/, the gradebook, other students, the grader's code) exists in it;
- as a fresh unprivileged uid (when grading as root; uids.py) with no capabilities, under a seccomp filter
  (syscalls.py: no nested namespaces, ptrace, mount, bpf, keyctl...), and rlimits on memory (address space),
  CPU seconds, processes, file size and open files; nbgrader's per-cell timeout plus a per-notebook wall clock;
- starts `autograder.jail.boot` inside, which loads torch and the probes of the hidden checks BEFORE any student
  code and deletes their sources from the jail, then starts ipykernel. The judges (lab/judges) are never in
  the jail: the grader decides every point outside it.

Where bwrap is missing or cannot create namespaces, or the seccomp filter cannot be built (libseccomp or pyseccomp
missing), grading refuses (loudly) unless grading without the jail was asked for: the setting `Jail.unsandboxed`
(`c.Jail.unsandboxed = True` in a config file, `--Jail.unsandboxed=True` on nbgrader's command line, or
`lab autograde --unsandboxed`); it then runs the same kernel (limits, probes) without the jail, saying so in the log.
`lab autograde` checks this once, before any student is graded; `lab grade` grades the bundled example class (this
repository's own code) without the jail where it is unavailable, and says so.

Settings are traitlets read from the course's configuration (Jail here; the kernels' limits are
`c.SandboxedExecute.*`). The environment variables named AG_* in this package are not settings: they are how a
grading process hands a kernel's settings to the launcher and the kernel it spawns (launch.py, boot.py, zygote.py),
which run before, or outside of, any configuration.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache

from traitlets import Bool
from traitlets.config import Config, Configurable

from . import syscalls

ENABLE_JAIL = ("To grade in the jail, install bubblewrap and libseccomp: `make system-packages` as root (Debian/Ubuntu; "
               "or `apt-get install bubblewrap libseccomp2`), and this package's requirements (`make setup`)")


class SandboxUnavailable(RuntimeError):
    pass


class Jail(Configurable):
    """The grading jail's settings (`c.Jail.<name>` in nbgrader_config.py)."""

    unsandboxed = Bool(False, help="Where the jail is unavailable (no bubblewrap, no user namespaces, no seccomp), "
                                   "grade anyway, without it: student code then runs with the grader's rights. "
                                   "`lab autograde --unsandboxed` sets it for one run").tag(config=True)


def unsandboxed_config() -> Config:
    """The configuration that asks for grading without the jail."""
    config = Config()
    config.Jail.unsandboxed = True
    return config


def unsandboxed_requested(config: Config | None = None) -> bool:
    """Whether `config` (a course's, or a grading process's) asks for grading without the jail."""
    return Jail(config=config or Config()).unsandboxed


@lru_cache(maxsize=None)
def probe() -> str | None:
    """None when bwrap can build the jail here; otherwise why not."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    problem = syscalls.problem()
    if problem is not None:
        # no jail without its filter: a kernel could create user namespaces, ptrace, mount... (see syscalls.py)
        return f"the jail's system-call filter (seccomp) cannot be built: {problem}"
    fd = syscalls.memfd(syscalls.program())
    try:
        result = subprocess.run([bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/",
                                 "--seccomp", str(fd), "true"], capture_output=True, text=True, timeout=30,
                                pass_fds=(fd,))
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bwrap could not be run: {exc}"
    finally:
        os.close(fd)
    if result.returncode != 0:
        return (f"bwrap cannot create namespaces here (exit {result.returncode}: {result.stderr.strip()}); "
                "unprivileged user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone=1)")
    return None


def require(config: Config | None = None) -> bool:
    """True: sandboxed. False: unsandboxed because `config` asks for it (Jail.unsandboxed). Raises
    SandboxUnavailable otherwise."""
    problem = probe()
    if problem is None:
        return True
    if unsandboxed_requested(config):
        return False
    raise SandboxUnavailable(
        f"REFUSING TO GRADE: the grading sandbox is unavailable: {problem}. Student code would run with the "
        f"grader's rights. {ENABLE_JAIL}; or grade unsandboxed on purpose: `lab autograde --unsandboxed`, or "
        "`c.Jail.unsandboxed = True` in nbgrader_config.py.")
