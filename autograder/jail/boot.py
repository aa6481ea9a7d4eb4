"""Inside the jail, before any student code: limits, the probes' channel, then ipykernel. Run as
`python -m autograder.jail.boot -f CONNECTION_FILE` (from a staged copy: see launch.py)."""
from __future__ import annotations

import os
import resource
import sys

from autograder.jail.limits import KernelLimits
from autograder.paths import CONTENT_PACKAGE  # the course's probes and provided code: CONTENT_PACKAGE.checks, .provided


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
    from autograder import probing
    probing.open_channel(int(os.environ.pop("AG_SB_JUDGE_SEED", "0")))


def load_probes() -> list[str]:
    """Import every probe module (and the provided code they build on) before any student code runs and before their
    files are hidden: a hidden-test line then finds them in sys.modules. Returns the probe modules that did not load (one
    that fails here fails again, with its error, where a hidden-test line imports it)."""
    import importlib
    import pkgutil

    failed = []
    for package in (f"{CONTENT_PACKAGE}.provided", f"{CONTENT_PACKAGE}.checks"):
        try:
            pkg = importlib.import_module(package)
        except ImportError:
            continue
        for info in pkgutil.iter_modules(pkg.__path__):
            try:
                importlib.import_module(f"{package}.{info.name}")
            except Exception as exc:  # noqa: BLE001 -- reported, or expected (below)
                # A provided file written to follow other provided cells (tiny_lm.py uses MultiHeadAttention
                # without importing it) does not import alone, and need not: probes run it the notebook's way
                # (provided.as_in_notebook). Only a probe module that does not load is a fault worth a line.
                if not package.endswith(".provided"):
                    failed.append(f"{package}.{info.name}: {exc!r}")
    return failed


def disguise_probes() -> None:
    """What student code sees of the probes on its call stack: frames whose file names look like the notebook's own
    cells (ipykernel's `/tmp/ipykernel_<pid>/<n>.py`) and whose module is `__main__`, not the grader's package.
    Code that reads the repository can still recognise the probes (their function names, their globals, their
    inputs): the threat model says what that buys (nothing without a correct answer)."""
    import types

    folder = f"/tmp/ipykernel_{os.getpid()}"

    def renamed(code: types.CodeType, filename: str) -> types.CodeType:
        consts = tuple(renamed(c, filename) if isinstance(c, types.CodeType) else c for c in code.co_consts)
        return code.replace(co_filename=filename, co_consts=consts)

    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith((f"{CONTENT_PACKAGE}.checks", f"{CONTENT_PACKAGE}.provided",
                                                  "autograder.protocol", "autograder.probing", "autograder.wire")):
            continue
        filename = f"{folder}/{abs(hash(name)) % 10**10}.py"
        seen = set()
        stack = list(vars(module).values())
        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if isinstance(obj, types.FunctionType) and obj.__module__ == name:
                obj.__code__ = renamed(obj.__code__, filename)
                stack += [cell.cell_contents for cell in obj.__closure__ or () if _filled(cell)]
            elif isinstance(obj, (staticmethod, classmethod)):
                stack.append(obj.__func__)
            elif isinstance(obj, property):
                stack += [f for f in (obj.fget, obj.fset, obj.fdel) if f is not None]
            elif isinstance(obj, type) and obj.__module__ == name:
                stack += list(vars(obj).values())
        module.__dict__.update(__name__="__main__", __file__=filename)


def _filled(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


STAGED_MARK = ".staged"  # written by launch.stage_python into the jail's copy of the checks


def hide_check_sources() -> None:
    """The checks are loaded: remove their files so that student code cannot read them (see the threat model)."""
    import importlib
    pkg = importlib.import_module(f"{CONTENT_PACKAGE}.checks")
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
    load_probes()  # already loaded when the kernel was forked from the zygote
    hide_check_sources()
    disguise_probes()
    if sys.flags.safe_path and "" not in sys.path:
        # started with -P (launch.boot_command) so that nothing of the student's folder was imported so far; from
        # here on the student's code runs, and imports its own files from its folder as in Jupyter (IPython adds
        # the folder only without -P)
        sys.path.insert(0, "")
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
