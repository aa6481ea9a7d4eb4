"""Fast checks of the sandbox's parts that need no grading run."""
from __future__ import annotations

import ast
import ctypes
import errno
import json
import multiprocessing
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import pytest

import autograder.jail as sandbox
from autograder.jail import rundir, syscalls, uids
from autograder.nbgrader_ext.feedback import HideHiddenTests
from autograder.protocol import check_line, parse_check_lines


def test_refuses_loudly_without_bwrap(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    sandbox.probe.cache_clear()
    try:
        with pytest.raises(sandbox.SandboxUnavailable, match="REFUSING TO GRADE.*--unsandboxed.*c.Jail.unsandboxed"):
            sandbox.require()
        assert sandbox.require(sandbox.unsandboxed_config()) is False
    finally:
        sandbox.probe.cache_clear()


def test_check_lines_round_trip():
    text = "student output [FAIL] fake: no\n" + check_line("shape", True, "d") + "\n" + check_line("scale", False, "d")
    assert parse_check_lines(text) == [("shape", True), ("scale", False)]


def test_feedback_hides_hidden_tests():
    cell = nbformat.v4.new_code_cell(
        "assert True\nprint('visible')\n### BEGIN HIDDEN TESTS\nfrom lab.checks import rmsnorm as _c; "
        "_c.GROUPS.run('values', RMSNorm)\n### END HIDDEN TESTS\n")
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "t", "points": 1}
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="[FAIL] x: y\n[probe rmsnorm values AAAA]\n"),
                    nbformat.v4.new_output("error", ename="CheckFailed", evalue="1 of 1 checks failed",
                                           traceback=["... _c.GROUPS.run('values', RMSNorm) ..."])]
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb, _ = HideHiddenTests().preprocess(nb, {})
    out = nb.cells[0]
    assert "GROUPS" not in out.source and "visible" in out.source
    assert out.outputs[0].text == "[FAIL] x: y\n"
    assert out.outputs[1].traceback == ["CheckFailed: 1 of 1 checks failed"]


def test_the_grading_kernel_starts_through_a_registered_provisioner(tmp_path):
    """jupyter_client's public extension point: the kernel spec names the provisioner, which is registered."""
    from jupyter_client.provisioning import KernelProvisionerFactory

    from autograder.jail.provisioner import JailProvisioner, jail_kernel_manager

    km = jail_kernel_manager(env={"AG_SB_MEMORY_MB": "1024"})
    spec = km.kernel_spec
    assert spec.argv[1:3] == ["-m", "autograder.jail.launch"] and spec.env == {"AG_SB_MEMORY_MB": "1024"}
    assert km.transport == "ipc"
    provisioner = KernelProvisionerFactory.instance().create_provisioner_instance("k", spec, km)
    assert isinstance(provisioner, JailProvisioner)
    shutil.rmtree(provisioner.runtime)  # the kernel was never started: nothing else removes its folder


def test_only_the_jails_copy_of_the_checks_is_ever_hidden(tmp_path):
    """The kernel (or the zygote) deletes the checks' files once it has loaded them, so that student code cannot
    read them: in the staged copy only. Run by hand outside a jail, it once deleted this repository's checks."""
    import os
    import subprocess
    import sys

    from autograder.jail.launch import stage_python

    hide = "from autograder.jail import boot; boot.hide_check_sources()"
    staged, unmarked = tmp_path / "staged", tmp_path / "unmarked"
    stage_python(staged)
    stage_python(unmarked)
    (unmarked / "lab" / "checks" / ".staged").unlink()
    for stage in (staged, unmarked):
        subprocess.run([sys.executable, "-c", hide], check=True, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": str(stage), "PYTHONSAFEPATH": "1"})
    assert os.listdir(staged / "lab" / "checks") == []
    assert "decoder.py" in os.listdir(unmarked / "lab" / "checks")


def test_the_judges_are_never_staged_into_the_jail(tmp_path):
    """Issue 20: nothing to borrow. The kernel gets the probes, never the judges with their references."""
    from autograder.jail.launch import stage_python

    stage_python(tmp_path)
    staged = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.py")}
    assert "lab/checks/rmsnorm.py" in staged
    assert not [p for p in staged if p.startswith("lab/judges") or "nbgrader_ext" in p or "variants" in p]


# --- issue 23: the jail's hardening, the parts that need no kernel (the rest: test_jail_hardening.py) ------------

REPO = Path(__file__).resolve().parents[2]
CASES = Path(__file__).resolve().parent / "cases"


def case_code(name: str) -> str:
    return (CASES / f"{name}.py").read_text()


def test_the_filter_denies_with_eperm_and_lets_the_rest_through():
    """The program as the zygote loads it (syscalls.apply), in a forked child of this process: a new user namespace
    and ptrace refused with EPERM, clone3 with ENOSYS, while fork, threads and files work."""
    if syscalls.problem() is not None:
        pytest.skip(syscalls.problem())
    program = syscalls.program()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only os._exit leaves it (pytest's own clean-up is the parent's)
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS: what lets an unprivileged process load a filter
            syscalls.apply(program)

            def errno_of(rc: int) -> str:
                return "ok" if rc >= 0 else errno.errorcode[ctypes.get_errno()]

            clone3 = {"x86_64": 435, "aarch64": 435}[platform.machine()]
            child = os.fork()
            if child == 0:
                os._exit(0)
            os.waitpid(child, 0)
            worker = threading.Thread(target=lambda: None)
            worker.start()
            worker.join()
            result = {"unshare": errno_of(libc.unshare(0x10000000)), "ptrace": errno_of(libc.ptrace(16, 1, 0, 0)),
                      "clone3": errno_of(libc.syscall(clone3, 0, 0)), "fork_and_thread": "ok",
                      "read": open("/proc/self/status").read().count("Seccomp:\t2")}
            os.write(write, json.dumps(result).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as f:
        result = json.loads(f.read() or "{}")
    assert result == {"unshare": "EPERM", "ptrace": "EPERM", "clone3": "ENOSYS", "fork_and_thread": "ok", "read": 1}


def test_without_the_filter_grading_refuses_and_says_what_to_install(monkeypatch):
    """A course maintainer expects the jail or a refusal, never a jail that silently lacks its filter: a missing
    libseccomp (or pyseccomp) makes the jail unavailable, with what to install; the setting Jail.unsandboxed still
    grades without the jail on purpose."""
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: "/usr/bin/bwrap")
    monkeypatch.setattr(syscalls, "_cached", lambda: "the seccomp bindings do not load (no module named pyseccomp)")
    sandbox.probe.cache_clear()
    try:
        with pytest.raises(sandbox.SandboxUnavailable, match="seccomp.*libseccomp2.*pyseccomp"):
            sandbox.require()
        assert sandbox.require(sandbox.unsandboxed_config()) is False
        with pytest.raises(syscalls.FilterUnavailable, match="apt-get install libseccomp2"):
            syscalls.program()
    finally:
        sandbox.probe.cache_clear()


def test_sweep_removes_only_folders_whose_process_is_gone(tmp_path):
    """Only folders whose lock is free are removed: a live owner's (its lock held) stays, a half-made one stays
    for a while (a process may be making it now)."""
    live = tmp_path / (rundir.PREFIX + "live")
    dead = tmp_path / (rundir.PREFIX + "dead")
    new = tmp_path / (rundir.NEW_PREFIX + "new")
    for folder in (live, dead, new):
        folder.mkdir()
        (folder / "kernel").mkdir()
    (dead / rundir.LOCK).touch()
    held = rundir._locked_fd(live / rundir.LOCK)
    try:
        assert rundir.sweep(str(tmp_path)) == [dead]
        assert live.exists() and new.exists()
    finally:
        os.close(held)
    assert rundir.sweep(str(tmp_path)) == [live]



SIGTERM_IN_EXIT = r"""
import os, signal, sys, time
from multiprocessing import util as mp_util
from pebble.common import process_exit
from autograder.jail import rundir

handlers = {"pebble": process_exit, "os_exit": lambda signum, _: os._exit(signum),
            "graceful": lambda *_: print("GRACEFUL", flush=True)}
signal.signal(signal.SIGTERM, handlers[sys.argv[1]])
folder = rundir.folder()
(folder / "ag-kernel-x").mkdir()
print(folder, flush=True)
if sys.argv[2] == "exiting":
    # the SIGTERM lands while the process's own exit runs multiprocessing's finalizers, before the folder's
    mp_util.Finalize(None, os.kill, args=(os.getpid(), signal.SIGTERM), exitpriority=rundir.REMOVE_PRIORITY + 1)
    sys.exit(0)
os.kill(os.getpid(), signal.SIGTERM)
time.sleep(0.5)
print("EXISTS", folder.exists(), flush=True)
"""


@pytest.mark.parametrize("handler, when", [("pebble", "exiting"), ("pebble", "running"), ("os_exit", "exiting"),
                                           ("graceful", "running")])
def test_a_sigterm_during_a_worker_s_exit_still_removes_its_jail_folder(handler, when):
    """A pebble pool closes an idle worker's pipe (the worker starts its own exit) and sends it SIGTERM at once:
    landing once that exit has begun, pebble's handler skips the finalizers (already under way) and `os._exit`s,
    which left the folder in about 1 run of 3 (test_jail_hardening's pebble case). The folder goes first. A SIGTERM
    outside an exit, to a handler that does not end the process (a graceful shutdown), leaves it to its kernels."""
    run = subprocess.run([sys.executable, "-c", SIGTERM_IN_EXIT, handler, when], capture_output=True, text=True,
                         timeout=60, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    folder = Path(run.stdout.splitlines()[0])
    assert folder.name.startswith(rundir.PREFIX), run.stdout + run.stderr
    if handler in ("pebble", "os_exit"):
        assert run.returncode == signal.SIGTERM, run.stdout + run.stderr  # pebble's handler: os._exit(signum)
        assert "EXISTS" not in run.stdout
    else:
        assert run.returncode == 0 and "GRACEFUL\nEXISTS True" in run.stdout, run.stdout + run.stderr
    assert not folder.exists()  # the graceful one: removed at its normal exit

def test_uids_are_never_shared_while_held():
    first = uids.allocate(start=uids.BASE + 123)
    second = uids.allocate(start=uids.BASE + 123)  # the same place to start: the next free one
    try:
        assert (first.uid, second.uid) == (uids.BASE + 123, uids.BASE + 124)
    finally:
        first.release()
    again = uids.allocate(start=uids.BASE + 123)
    try:
        assert again.uid == uids.BASE + 123  # released: free again
    finally:
        again.release()
        second.release()


def _hold_uids(start: int, n: int, queue, done) -> None:
    held = [uids.allocate(start=start) for _ in range(n)]
    queue.put([h.uid for h in held])
    done.wait(60)


def test_uids_of_concurrent_grading_processes_differ():
    """Four processes, all starting their search at the same uid (the old scheme's collision: pid mod 100000)."""
    ctx = multiprocessing.get_context("fork")
    queue, done = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_hold_uids, args=(uids.BASE + 777, 5, queue, done)) for _ in range(4)]
    for p in procs:
        p.start()
    try:
        seen = [uid for _ in procs for uid in queue.get(timeout=60)]
    finally:
        done.set()
        for p in procs:
            p.join(30)
    assert len(seen) == 20 and len(set(seen)) == 20, sorted(seen)


def test_no_assert_in_the_jail_code():
    """`python -O` removes asserts: a check of the jail must raise."""
    found = [f"{path.name}:{node.lineno}" for path in sorted((REPO / "autograder" / "jail").glob("*.py"))
             for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Assert)]
    assert not found, found


def test_a_sandboxed_kernel_without_ipc_is_refused_under_python_O(tmp_path):
    conn = tmp_path / "kernel.json"
    conn.write_text(json.dumps({"transport": "tcp", "ip": "127.0.0.1"}))
    result = subprocess.run([sys.executable, "-O", "-m", "autograder.jail.launch", str(conn)], cwd=tmp_path,
                            capture_output=True, text=True, env={**os.environ, "AG_SB_MODE": "sandbox"})
    assert result.returncode != 0 and "needs the ipc transport" in result.stderr, result.stderr
    assert not (tmp_path / "work").exists()  # refused before it prepared anything


def test_the_jail_covers_an_installed_package_only(monkeypatch, tmp_path):
    from autograder.jail import launch

    site = tmp_path / "venv" / "lib" / "site-packages"
    monkeypatch.setattr(launch, "python_roots", lambda: [str(tmp_path / "venv")])
    monkeypatch.setattr(launch, "PACKAGE", site / "autograder")
    monkeypatch.setattr(launch, "CONTENT", site / "lab")
    hidden = launch.installed_packages()
    assert hidden == [str(site / "autograder"), str(site / "lab")]  # the engine and the course's judges
    cmd = launch.jail_base(True, [])
    bound = cmd.index(str(tmp_path / "venv"), cmd.index("--ro-bind"))  # the environment, shown read-only...
    for package in hidden:
        covered = next(i for i in range(len(cmd)) if cmd[i:i + 4] == ["--tmpfs", package, "--remount-ro", package])
        assert covered > bound  # ...and the packages in it covered afterwards (bwrap applies its options in order)
    # editable: the repository, not shown in the jail
    monkeypatch.setattr(launch, "PACKAGE", REPO / "autograder")
    monkeypatch.setattr(launch, "CONTENT", REPO / "lab")
    assert launch.installed_packages() == []


def test_read_installed_checks_is_a_real_probe(tmp_path):
    """The case finds the sources where they are readable (here, outside any jail, in a tree laid out like
    site-packages): what it reports as 0 in the jail is not 0 because it looks in the wrong place."""
    site = tmp_path / "site"
    shutil.copytree(REPO / "lab" / "checks", site / "lab" / "checks",
                    ignore=shutil.ignore_patterns("__pycache__"))
    code = f"import sys; sys.path.insert(0, {str(site)!r})\n" + case_code("read_installed_checks")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path).stdout
    assert "LEAK read" in out and "check or grader sources readable: 0" not in out, out


def test_a_submission_cannot_shadow_the_staged_packages_at_boot(tmp_path):
    """A kernel started without the zygote boots with `python -m autograder.jail.boot` in the student's folder,
    where `-m` alone would import a submitted `autograder/` or `lab/` folder before the staged copy (and so run the
    student's boot, with no limits). The boot command's -P keeps the folder off sys.path; shown both ways."""
    from autograder.jail.launch import boot_command, stage_python

    stage, student = tmp_path / "stage", tmp_path / "student"
    stage_python(stage)
    for package in ("autograder", "autograder/jail", "lab", "lab/checks"):
        (student / package).mkdir(parents=True, exist_ok=True)
        (student / package / "__init__.py").write_text("")
    (student / "autograder" / "jail" / "boot.py").write_text("")
    where = "import autograder.jail.boot as b, lab.checks as c; print(b.__file__); print(c.__file__)"
    env = {**os.environ, "PYTHONPATH": str(stage)}
    flags = [f for f in boot_command([])[1:] if f.startswith("-") and f != "-m"]
    assert "-P" in flags
    booted = subprocess.run([sys.executable, *flags, "-c", where], cwd=student, env=env, capture_output=True,
                            text=True, check=True).stdout.split()
    assert all(path.startswith(str(stage)) for path in booted), booted
    # without -P, the same start imports the student's folders: the flag is what stops it
    shadowed = subprocess.run([sys.executable, "-s", "-c", where], cwd=student, env=env, capture_output=True,
                              text=True, check=True).stdout.split()
    assert all(path.startswith(str(student)) for path in shadowed), shadowed
