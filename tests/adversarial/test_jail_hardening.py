"""The jail's hardening (issue 23) in real grading kernels, on both ways a kernel starts (forked from the zygote, and
one bwrap jail per notebook): no nested user namespace and the system-call filter (the adversarial cases' code), no
jail folder left behind (normal exit, a multiprocessing worker's os._exit, SIGKILL then the next run's sweep),
kernel uids never shared, and the checks hidden after a plain (non-editable) `pip install .`. The same cases also
run in the adversarial class (test_adversarial.py); the parts that need no kernel: test_sandbox_unit.py."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.jail import rundir, uids
from autograder.jail.limits import KernelLimits
from autograder.jail.provisioner import jail_kernel_manager
from harness_adv import dead_jail_folders
from test_zygote_isolation import require_zygote, run

REPO = Path(__file__).resolve().parents[2]
CASES = Path(__file__).resolve().parent / "cases"
KERNEL_CASES = ("nested_user_namespace", "denied_syscalls", "proc_other_kernels", "read_installed_checks")
PATHS = {"zygote": "1", "per-notebook jail": "0"}


def case_code(name: str) -> str:
    return (CASES / f"{name}.py").read_text()


def reasons(name: str) -> list[str]:
    return [line.split(":", 1)[1].strip() for line in case_code(name).splitlines() if line.startswith("# reason:")]


def kernel_env(fast: str, seed: int = 1) -> dict[str, str]:
    return {**KernelLimits().kernel_env(), "AG_SB_MODE": "sandbox", "AG_FAST_START": fast, "AG_SB_JUDGE_SEED": str(seed)}


async def run_in_kernel(cwd: Path, fast: str, codes: list[str]) -> list[str]:
    km = jail_kernel_manager(env=kernel_env(fast))
    await km.start_kernel(cwd=str(cwd))
    try:
        return [await run(km, code) for code in codes]
    finally:
        await km.shutdown_kernel(now=True)


def student_folder(tmp_path: Path, student: str = "eve") -> Path:
    folder = tmp_path / "course" / "autograded" / student / "transformer_block"
    folder.mkdir(parents=True)
    return folder


@pytest.mark.parametrize("path", PATHS)
def test_hostile_cases_in_both_kernel_paths(tmp_path, path):
    """Gaps 1, 2, 5 and 7: each case's expected lines appear (so the case ran and was refused), and no LEAK."""
    require_zygote("sandbox") if path == "zygote" else jail_or_skip()
    outputs = asyncio.run(run_in_kernel(student_folder(tmp_path), PATHS[path], [case_code(c) for c in KERNEL_CASES]))
    for name, out in zip(KERNEL_CASES, outputs):
        assert "LEAK" not in out, f"{name} ({path}):\n{out}"
        for reason in reasons(name):
            assert reason in out, f"{name} ({path}): {reason!r} not in\n{out}"


def jail_or_skip() -> None:
    from conftest import require_jail

    require_jail()


# --- gap 3: jail folders ----------------------------------------------------------------------------------------

# One grading process: a kernel from the zygote and one in a jail of its own, each running a cell; then it ends as
# told (the end of its script; the end of a multiprocessing worker, which leaves with os._exit; a pebble worker,
# stopped with SIGTERM as lab autograde's are) or waits to be killed.
GRADING_PROCESS = r"""
import asyncio, multiprocessing, os, sys, time
from autograder.jail import rundir
from autograder.jail.limits import KernelLimits
from autograder.jail.provisioner import jail_kernel_manager

async def grade(cwd, how):
    for fast in ("1", "0"):
        km = jail_kernel_manager(env={**KernelLimits().kernel_env(), "AG_SB_MODE": "sandbox",
                                         "AG_FAST_START": fast, "AG_SB_JUDGE_SEED": "1"})
        await km.start_kernel(cwd=cwd)
        kc = km.client()
        kc.start_channels()
        await kc.wait_for_ready(timeout=120)
        await kc.execute_interactive("open('/tmp/x', 'w').close()", timeout=60)
        kc.stop_channels()
        if how != "killed":
            await km.shutdown_kernel(now=True)
    print("\nFOLDER", rundir.folder(), flush=True)  # on a line of its own: kernels write to this stdout too

def worker(cwd, how):
    asyncio.run(grade(cwd, how))

if __name__ == "__main__":
    how, cwd = sys.argv[1], sys.argv[2]
    if how == "worker":
        process = multiprocessing.get_context("fork").Process(target=worker, args=(cwd, how))
        process.start()
        process.join()
        print("\nWORKER-EXIT", process.exitcode, flush=True)
    elif how == "pebble":  # lab autograde's pool: its workers are stopped with SIGTERM, then SIGKILL 3 s later
        from pebble import ProcessPool
        pool = ProcessPool(max_workers=1, context=multiprocessing.get_context("spawn"))
        pool.schedule(worker, args=(cwd, "pebble")).result()
        pool.close()
        pool.join()
        print("\nWORKER-EXIT 0", flush=True)
    else:
        asyncio.run(grade(cwd, how))
        if how == "killed":
            time.sleep(600)
"""


def grading_process(how: str, cwd: Path) -> subprocess.Popen:
    script = cwd.parents[3] / "grader.py"  # a file, not -c: spawned workers import their code from it
    script.write_text(GRADING_PROCESS)
    return subprocess.Popen([sys.executable, str(script), how, str(cwd)], stdout=subprocess.PIPE, text=True, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)})


def folder_of(lines) -> Path:
    line = next((line for line in lines if line.startswith("FOLDER ")), "")
    assert line, "the grading process reported no jail folder"
    return Path(line.split(" ", 1)[1].strip())


@pytest.mark.parametrize("how", ["exit", "worker", "pebble"])
def test_a_grading_process_removes_its_jail_folder(tmp_path, how):
    require_zygote("sandbox")
    process = grading_process(how, student_folder(tmp_path))
    out, _ = process.communicate(timeout=600)
    assert process.returncode == 0, out
    folder = folder_of(out.splitlines())
    assert folder.name.startswith(rundir.PREFIX) and folder.parent == Path(rundir.PARENT)
    if how != "exit":
        assert "WORKER-EXIT 0" in out, out
    # every process that held the folder has ended by now (pebble's join() waits for its worker, which it stops with
    # SIGTERM as it closes the worker's pipe: a SIGTERM landing in the worker's own exit once cut its finalizers short
    # and left the folder in about 1 run of 3, see rundir._guard_sigterm), so the folder must be gone already
    assert not folder.exists(), f"{folder} left behind after {how}"
    assert not dead_jail_folders(), dead_jail_folders()


def test_a_killed_grading_process_s_folder_goes_with_the_next_run(tmp_path):
    """SIGKILL leaves the folder (nothing runs in a killed process); the next grading process's first kernel sweeps
    it: its lock is free, so its process is gone."""
    require_zygote("sandbox")
    process = grading_process("killed", student_folder(tmp_path))
    try:
        folder = folder_of(iter(process.stdout.readline, ""))
        assert (folder / rundir.LOCK).exists()
        assert str(folder) not in dead_jail_folders()  # alive: never swept
        assert folder not in rundir.sweep()
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert folder.exists()
    for _ in range(100):  # the kernels die with their launchers (parent-death signal) and so release the folder
        if str(folder) in dead_jail_folders():
            break
        time.sleep(0.1)
    assert folder in rundir.sweep()
    assert not folder.exists()
    assert not dead_jail_folders(), dead_jail_folders()


# --- gap 5: kernel uids ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", PATHS)
def test_kernels_running_at_once_have_their_own_uids(tmp_path, path, monkeypatch):
    """Three kernels of one grading process, alive together: three uids (each search starts at the same place)."""
    require_zygote("sandbox") if path == "zygote" else jail_or_skip()
    if os.geteuid() != 0:
        pytest.skip("kernel uids are given when grading as root (otherwise a kernel keeps the grader's uid)")

    async def three() -> list[int]:
        kms = []
        try:
            for i in range(3):
                km = jail_kernel_manager(env=kernel_env(PATHS[path], seed=i))
                await km.start_kernel(cwd=str(student_folder(tmp_path, f"s{i}")))
                kms.append(km)
            outs = [await run(km, "import os; print('UID', os.getuid())") for km in kms]
            return [int(out.split("UID ")[1].split()[0]) for out in outs]
        finally:
            for km in kms:
                await km.shutdown_kernel(now=True)

    seen = asyncio.run(three())
    assert len(set(seen)) == 3 and all(uids.BASE <= uid < uids.BASE + uids.COUNT for uid in seen), seen


# --- gap 7: the checks hidden after a plain `pip install .` --------------------------------------------------------

NON_EDITABLE_KERNELS = r"""
import asyncio, json, sys
from pathlib import Path
import autograder
from autograder.jail.limits import KernelLimits
from autograder.jail.provisioner import jail_kernel_manager

async def main(cwd, code):
    outputs = {}
    for fast in ("1", "0"):
        km = jail_kernel_manager(env={**KernelLimits().kernel_env(), "AG_SB_MODE": "sandbox",
                                         "AG_FAST_START": fast, "AG_SB_JUDGE_SEED": "1"})
        await km.start_kernel(cwd=cwd)
        kc = km.client()
        kc.start_channels()
        await kc.wait_for_ready(timeout=300)
        out = []
        await kc.execute_interactive(code, timeout=120, output_hook=lambda m: out.append(
            m["content"].get("text", "") + "\n".join(m["content"].get("traceback", []))))
        kc.stop_channels()
        await km.shutdown_kernel(now=True)
        outputs[fast] = "".join(out)
    print("RESULT" + json.dumps({"package": autograder.__file__, "outputs": outputs}))

asyncio.run(main(sys.argv[1], open(sys.argv[2]).read()))
"""


def non_editable_venv(where: Path) -> Path:
    """A copy of .venv (hard links: seconds, no download) with this package installed the plain way instead of
    editable. The sources are copied first: building in the repository would leave build/ and *.egg-info there."""
    venv = Path(sys.prefix)
    if os.stat(venv).st_dev != os.stat(where).st_dev:
        pytest.skip(f"{where} and {venv} are on different file systems: no hard-linked copy of the environment")
    copy = where / "venv"
    subprocess.run(["cp", "-al", str(venv), str(copy)], check=True)
    python = copy / "bin" / "python"
    src = where / "src"
    for package in ("autograder", "lab"):
        shutil.copytree(REPO / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "requirements.txt", "requirements-test.txt", "README.md"):
        shutil.copy2(REPO / name, src / name)
    pip = [str(python), "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "uninstall", "-y", "transformer-block-lab"], check=True, capture_output=True)
    subprocess.run([*pip, "install", "--no-deps", "--no-build-isolation", "--no-index", str(src)], check=True,
                   capture_output=True)
    return python


def test_checks_hidden_after_a_plain_pip_install(tmp_path):
    require_zygote("sandbox")
    python = non_editable_venv(tmp_path)
    site = subprocess.run([str(python), "-c", "import lab, os; print(os.path.dirname(lab.__file__))"],
                          capture_output=True, text=True, check=True, cwd=tmp_path).stdout.strip()
    assert Path(site).is_relative_to(tmp_path / "venv"), site  # installed, not the repository's (editable)
    installed = sorted(Path(site, "checks").glob("*.py"))
    assert installed, "the installed package has no check sources: this test would show nothing"
    script = tmp_path / "kernels.py"
    script.write_text(NON_EDITABLE_KERNELS)
    result = subprocess.run([str(python), str(script), str(student_folder(tmp_path)),
                             str(CASES / "read_installed_checks.py")], capture_output=True, text=True, cwd=tmp_path,
                            timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("RESULT"))[6:])
    for fast, out in report["outputs"].items():
        assert "LEAK" not in out and "check or grader sources readable: 0" in out, (fast, out)
    # the package the grader runs, outside the jail, is whole: the jail hid it, nothing deleted it
    assert sorted(Path(site, "checks").glob("*.py")) == installed


