"""Inside the jail, before any student code: limits, the probes' channel, then ipykernel. Run as
`python -m autograder.jail.boot -f CONNECTION_FILE` (from a staged copy: see launch.py)."""
from __future__ import annotations

import os
import resource
import sys

from autograder.jail.limits import KernelLimits


def set_limits(limits: KernelLimits) -> None:
    mib = 2**20
    rlimits = [
        (resource.RLIMIT_AS, limits.memory_mb * mib),
        (resource.RLIMIT_NPROC, limits.max_processes),
        (resource.RLIMIT_FSIZE, limits.max_file_mb * mib),
        (resource.RLIMIT_NOFILE, 256),
        (resource.RLIMIT_CORE, 0),
    ]
    cpu = limits.cpu_seconds
    # soft: SIGXCPU (kills the kernel), hard a little later: SIGKILL
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    for which, value in rlimits:
        resource.setrlimit(which, (value, value))


def open_probe_channel() -> None:
    """Probes use the seed the grader drew for this notebook and print their data for the grader's judges."""
    from autograder.checks import _core
    _core.open_channel(int(os.environ.pop("AG_SB_JUDGE_SEED", "0")))


STAGED_MARK = ".staged"  # written by launch.stage_python into the jail's copy of the checks


def hide_check_sources() -> None:
    """The checks are loaded: remove their files so that student code cannot read them (see the threat model)."""
    import autograder.checks as pkg
    for directory in pkg.__path__:
        if not os.path.isdir(directory):
            continue  # a kernel forked from the zygote: the zygote hid them, the staged folder is not mounted
        if not os.path.exists(os.path.join(directory, STAGED_MARK)):
            continue  # the repository's own checks (boot or the zygote run by hand, outside a jail): never removed
        for name in os.listdir(directory):
            os.unlink(os.path.join(directory, name))
    import linecache
    linecache.clearcache()


def cap_output(shell, limit: int) -> None:
    """At most `limit` characters of stdout+stderr per cell reach nbgrader (megabytes of output would take minutes
    to pass through Jupyter's messages); the probes' lines always pass (the grader refuses one that is too large)."""
    from autograder.protocol import is_protocol_line

    state = {"n": 0, "cut": False}

    def new_cell(*args, **kwargs):
        state["n"], state["cut"] = 0, False

    shell.events.register("pre_run_cell", new_cell)
    for stream in (sys.stdout, sys.stderr):
        def write(text, _write=stream.write):
            if isinstance(text, str) and is_protocol_line(text):
                return _write(text)
            if state["cut"]:
                return len(text)
            state["n"] += len(text)
            if state["n"] > limit:
                state["cut"] = True
                _write(f"\n[the rest of this cell's output was cut by the grader: over {limit} characters]\n")
                return len(text)
            return _write(text)

        stream.write = write


def main() -> None:
    limits = KernelLimits.from_env()
    set_limits(limits)
    open_probe_channel()
    hide_check_sources()
    from ipykernel.kernelapp import IPKernelApp
    app = IPKernelApp.instance()
    app.initialize(sys.argv[1:])
    cap_output(app.shell, limits.max_output_chars)
    if os.environ.get("AG_SB_UNSANDBOXED") != "1":
        # the connection file (and its message-signing key) is no business of student code
        try:
            os.unlink(app.connection_file)
        except OSError:
            pass
    app.start()


if __name__ == "__main__":
    main()
