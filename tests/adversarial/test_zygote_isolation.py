"""Two kernels forked from the same zygote (autograder/jail/zygote.py) are as separate as two jails: neither sees
the other's /tmp, files, processes or loopback sockets, nor the zygote, its socket or the spool; each has its own
uid, no capabilities, its limits, and dies with everything it started."""
from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from autograder.jail import zygote_host
from autograder.jail.launch import python_roots
from autograder.jail.limits import KernelLimits
from autograder.jail.provisioner import jail_kernel_manager

# Kernel A leaves traces of every kind and reports where; kernel B, started while A still runs, looks for them.
LEAVE_TRACES = r"""
import json, os, socket, subprocess
open("/tmp/secret_a", "w").write("a")
open("mine_a.txt", "w").write("a")
tcp = socket.socket(); tcp.bind(("127.0.0.1", 0)); tcp.listen()
unix = socket.socket(socket.AF_UNIX); unix.bind("\0ag-test-a"); unix.listen()
sleeper = subprocess.Popen(["sleep", "600"])
print("REPORT" + json.dumps({"port": tcp.getsockname()[1], "cwd": os.getcwd(), "uid": os.getuid(),
                             "sleeper": sleeper.pid}))
"""

LOOK = r"""
import json, os, resource, socket
def connects(family, address):
    s = socket.socket(family)
    s.settimeout(2)
    try:
        s.connect(address)
        return True
    except OSError:
        return False
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
uids = {os.stat(f"/proc/{p}").st_uid for p in os.listdir("/proc") if p.isdigit()}
cmdlines = [open(f"/proc/{p}/cmdline", "rb").read().decode(errors="replace") for p in os.listdir("/proc") if p.isdigit()]
print("REPORT" + json.dumps({
    "uid": os.getuid(), "cwd": os.getcwd(), "tmp": sorted(os.listdir("/tmp")),
    "procs_uids": sorted(uids), "cmdlines": cmdlines,
    "cap_eff": status["CapEff"].strip(), "cap_bnd": status["CapBnd"].strip(), "no_new_privs": status["NoNewPrivs"].strip(),
    "nproc": resource.getrlimit(resource.RLIMIT_NPROC)[0], "as": resource.getrlimit(resource.RLIMIT_AS)[0],
    "interfaces": [name for _, name in socket.if_nameindex()],
}))
"""


def probe_code(a_report: dict) -> str:
    return (f"import json; a = json.loads({json.dumps(a_report)!r})\n" + LOOK + r"""
checks = {
    "secret_a": os.path.exists("/tmp/secret_a"),
    "a_cwd_file": os.path.exists(os.path.join(a["cwd"], "mine_a.txt")),
    "tcp": connects(socket.AF_INET, ("127.0.0.1", a["port"])),
    "unix": connects(socket.AF_UNIX, "\0ag-test-a"),
    "spool_holds_more_than_its_runtime": len(os.listdir(%r)) != 1,
}
print("SEEN" + json.dumps(checks))
""" % str(zygote_host.spool()))


async def run(km, code: str) -> str:
    kc = km.client()
    kc.start_channels()
    await kc.wait_for_ready(timeout=120)
    out: list[str] = []
    await kc.execute_interactive(code, timeout=60, output_hook=lambda m: out.append(
        m["content"].get("text", "") + "\n".join(m["content"].get("traceback", []))))
    kc.stop_channels()
    return "".join(out)


def pick(text: str, marker: str) -> dict:
    lines = [line for line in text.splitlines() if line.startswith(marker)]
    assert lines, f"no {marker} line in the kernel's output:\n{text}"
    return json.loads(lines[0][len(marker):])


async def two_kernels(course: Path) -> tuple[dict, dict, dict]:
    env = {**KernelLimits(max_processes=48).kernel_env(), "AG_SB_MODE": "sandbox", "AG_FAST_START": "1"}
    folders = []
    for student in ("alice", "bob"):
        folder = course / "autograded" / student / "transformer_block"
        folder.mkdir(parents=True)
        (folder / f"{student}_data.txt").write_text(student)
        folders.append(folder)
    km_a = jail_kernel_manager(env={**env, "AG_SB_JUDGE_SEED": "1"})
    km_b = jail_kernel_manager(env={**env, "AG_SB_JUDGE_SEED": "2"})
    await km_a.start_kernel(cwd=str(folders[0]))
    await km_b.start_kernel(cwd=str(folders[1]))
    try:
        a = pick(await run(km_a, LEAVE_TRACES), "REPORT")
        text = await run(km_b, probe_code(a))
        b, seen = pick(text, "REPORT"), pick(text, "SEEN")
    finally:
        await km_a.shutdown_kernel(now=True)
        await km_b.shutdown_kernel(now=True)
    return a, b, seen


def test_two_kernels_from_one_zygote_are_isolated(tmp_path):
    require_zygote("sandbox")
    a, b, seen = asyncio.run(two_kernels(tmp_path / "course"))
    assert not any(seen.values()), seen
    assert a["uid"] != b["uid"] and 200_000 <= b["uid"] < 300_000
    # in its /tmp: its own folders, and the Python installation when that lives under /tmp (read-only)
    pythons = {Path(root).parts[2] for root in python_roots() if Path(root).is_relative_to("/tmp")}
    assert b["cwd"].endswith("/autograded/bob/transformer_block") and b["tmp"] == sorted(
        {b["cwd"].split("/")[2], zygote_host.spool().name, "home", *pythons})
    # its namespace's init and itself, both with its uid: nothing of A, nor the zygote
    assert b["procs_uids"] == [b["uid"]], b["cmdlines"]
    assert len(b["cmdlines"]) == 2 and not any("sleep" in c for c in b["cmdlines"]), b["cmdlines"]
    assert b["cap_eff"] == "0000000000000000" and b["cap_bnd"] == "0000000000000000" and b["no_new_privs"] == "1"
    assert b["nproc"] == 48 and b["as"] == KernelLimits().memory_mb * 2**20
    assert b["interfaces"] == ["lo"]
    # A's background process died with A's kernel (the zygote kills a kernel's namespace once its launcher is gone)
    for _ in range(100):
        ps = subprocess.run(["ps", "-eo", "uid=,args="], capture_output=True, text=True).stdout
        left = [line for line in ps.splitlines() if int(line.split()[0]) in (a["uid"], b["uid"])]
        if not left:
            break
        time.sleep(0.1)
    assert not left, left


@contextlib.asynccontextmanager
async def forked_kernel(mode: str, cwd: Path, seed: int):
    """A kernel manager whose kernel was forked from this process's zygote ("sandbox" or "unsandboxed"), shut down
    afterwards."""
    env = {**KernelLimits().kernel_env(), "AG_SB_MODE": mode, "AG_FAST_START": "1", "AG_SB_JUDGE_SEED": str(seed)}
    km = jail_kernel_manager(env=env)
    await km.start_kernel(cwd=str(cwd))
    try:
        assert zygote_host.spool() in Path(km.provisioner.runtime).parents  # this kernel came from the zygote
        yield km
    finally:
        await km.shutdown_kernel(now=True)


def require_zygote(mode: str) -> None:
    """Skips (or fails under CI) where the zygote cannot serve kernels of this mode."""
    if mode == "sandbox":
        from conftest import require_jail

        require_jail()
        if not zygote_host.possible(sandboxed=True):
            pytest.skip("the zygote serves sandboxed kernels only when grading as root (see the README)")


async def exit_status(mode: str, code: str, cwd: Path) -> int:
    async with forked_kernel(mode, cwd, seed=3) as km:
        kc = km.client()
        kc.start_channels()
        await kc.wait_for_ready(timeout=120)
        kc.execute(code)
        process = km.provisioner.process
        for _ in range(600):
            if process.poll() is not None:
                break
            await asyncio.sleep(0.1)
        kc.stop_channels()
        return process.poll()


@pytest.mark.parametrize("mode", ["sandbox", "unsandboxed"])
def test_the_launcher_reports_how_a_forked_kernel_ended(tmp_path, mode):
    """SandboxedExecute tells the student how the kernel died from the launcher's exit status (128 + signal)."""
    require_zygote(mode)
    assert asyncio.run(exit_status(mode, "import os; os._exit(7)", tmp_path)) == 7
    assert asyncio.run(exit_status(mode, "import os, signal; os.kill(os.getpid(), signal.SIGXCPU)", tmp_path)) \
        == 128 + signal.SIGXCPU


# A grading process that starts a kernel through its zygote, runs a cell that leaves a background process, reports
# the kernel's uid and then waits to be killed.
GRADING_PROCESS = r"""
import asyncio, json, sys
from autograder.jail.limits import KernelLimits
from autograder.jail.provisioner import jail_kernel_manager

async def main():
    env = {**KernelLimits().kernel_env(), "AG_SB_MODE": "sandbox", "AG_FAST_START": "1", "AG_SB_JUDGE_SEED": "4"}
    km = jail_kernel_manager(env=env)
    await km.start_kernel(cwd=sys.argv[1])
    kc = km.client()
    kc.start_channels()
    await kc.wait_for_ready(timeout=120)
    out = []
    await kc.execute_interactive(
        "import os, subprocess; subprocess.Popen(['sleep', '600']); print('UID', os.getuid())", timeout=60,
        output_hook=lambda m: out.append(m["content"].get("text", "")))
    print("GRADER-SAW " + "".join(out), flush=True)  # the kernel writes to this stdout too: a marker
    await asyncio.sleep(600)

asyncio.run(main())
"""


def test_a_killed_grading_process_takes_its_forked_kernels_along(tmp_path):
    """A grading process killed outright (SIGKILL: a crash, a lost cluster worker) never gets to stop its kernels:
    they must not outlive it (without the launcher's parent-death signal they ran on, with their students' code)."""
    import os
    import sys

    require_zygote("sandbox")
    grader = subprocess.Popen([sys.executable, "-c", GRADING_PROCESS, str(tmp_path)], stdout=subprocess.PIPE,
                              text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        lines = iter(grader.stdout.readline, "")
        line = next((line for line in lines if line.startswith("GRADER-SAW")), "")
        assert "UID " in line, line
        uid = int(line.split("UID ")[1].split()[0])
    finally:
        os.kill(grader.pid, signal.SIGKILL)
        grader.wait()

    def left() -> list[str]:
        ps = subprocess.run(["ps", "-eo", "uid=,args="], capture_output=True, text=True).stdout
        return [line for line in ps.splitlines() if int(line.split()[0]) == uid]

    assert left(), "the kernel and its background process should run until the grading process dies"
    for _ in range(200):
        if not left():
            break
        time.sleep(0.1)
    assert not left(), left()



RANDOM_STATE = "import sys, torch; print('STATE', torch.initial_seed(), torch.rand(3).tolist(), " \
               "'torch._dynamo' in sys.modules)"


async def kernel_output(mode: str, code: str, cwd: Path) -> str:
    async with forked_kernel(mode, cwd, seed=5) as km:
        return await run(km, code)


@pytest.mark.parametrize("mode", ["sandbox", "unsandboxed"])
def test_forked_kernels_start_warm_with_random_states_of_their_own(tmp_path, mode):
    """The zygote runs checkpointing and the memory meter once before forking (their first call imports torch._dynamo
    and hundreds of modules: about 1 s of notebooks 02 and 04). Each kernel then reseeds torch, as a fresh Python
    seeds itself: two kernels of one zygote do not draw the same "random" numbers (they did before)."""
    require_zygote(mode)
    states = []
    for _ in range(2):
        out = asyncio.run(kernel_output(mode, RANDOM_STATE, tmp_path))
        states += [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("STATE")]
    assert len(states) == 2 and all(state.endswith("True") for state in states), states  # warm
    assert states[0] != states[1], states
