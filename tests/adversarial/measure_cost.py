"""The sandbox's cost per notebook: the same class of N correct students autograded by nbgrader's own Execute
(no sandbox) and by SandboxedExecute (bwrap jail, limits, judges outside the kernel), alternating, in one scratch
course. Usage: python tests/adversarial/measure_cost.py [N] [ROUNDS]
       python tests/adversarial/measure_cost.py startup [ROUNDS]   (kernel start-up alone)
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness_adv import ASSIGNMENT, Case, CASES, make_course, make_submission  # noqa: E402

PLAIN = ["nbgrader.preprocessors.Execute", "nbgrader.preprocessors.IgnorePattern",
         "nbconvert.preprocessors.ClearMetadataPreprocessor", "nbgrader.preprocessors.LimitOutput",
         "nbgrader.preprocessors.SaveAutoGrades", "nbgrader.preprocessors.AssignLatePenalties",
         "nbgrader.preprocessors.CheckCellMetadata"]


def main(n: int = 4, rounds: int = 2) -> None:
    from autograder.nbgrader_cli import run_nbgrader

    root = Path(tempfile.mkdtemp(prefix="sandbox-cost-"))
    make_course(root)
    perfect = Case.load(CASES / "perfect.py")
    for i in range(n):
        perfect.name = f"student{i:02d}"
        make_submission(root, perfect)
    plain = [f"--Autograde.autograde_preprocessors={p}" for p in PLAIN] + [
        "--Autograde.exporter_class=nbconvert.exporters.NotebookExporter"]
    modes = {
        "nbgrader Execute, its defaults": plain,
        "nbgrader Execute, immediate shutdown": plain + ["--Execute.shutdown_kernel=immediate"],
        "SandboxedExecute, no zygote": ["--SandboxedExecute.fast_start=False"],
        "SandboxedExecute (bwrap jail, zygote)": [],
    }
    times: dict[str, list[float]] = {m: [] for m in modes}
    for _ in range(rounds):
        for mode, args in modes.items():
            started = time.monotonic()
            run_nbgrader("autograde", ASSIGNMENT, "--force", *args, course_root=root, quiet=True)
            times[mode].append((time.monotonic() - started) / n)
    print(f"{n} notebooks per run, {rounds} runs per mode, alternating; seconds per notebook "
          "(whole `nbgrader autograde` wall time / notebooks):")
    for mode, values in times.items():
        print(f"  {mode:40s} " + "  ".join(f"{v:.2f}" for v in values) + f"   best {min(values):.2f}")
    _, plain, _, boxed = (min(v) for v in times.values())
    print(f"  sandbox cost against the same shutdown policy: {boxed - plain:+.2f} s per notebook "
          f"({(boxed / plain - 1) * 100:+.0f}%)")


def startup(rounds: int = 5) -> None:
    """Kernel start to first executed cell (`import torch`) and shutdown: plain ipykernel vs the sandboxed kernel."""
    import asyncio
    import os

    from jupyter_client.manager import AsyncKernelManager

    from autograder.jail.limits import KernelLimits
    from autograder.jail.provisioner import jail_kernel_manager

    async def once(make) -> float:
        started = time.monotonic()
        km = make()
        await km.start_kernel(env=dict(os.environ, AG_SB_MODE="sandbox"))
        kc = km.client()
        kc.start_channels()
        await kc.wait_for_ready(timeout=120)
        await kc.execute_interactive("import torch", timeout=120)
        kc.stop_channels()
        await km.shutdown_kernel(now=True)
        await km.cleanup_resources()
        return time.monotonic() - started

    makers = {"plain ipykernel": lambda: AsyncKernelManager(kernel_name="python3"),
              "sandboxed, no zygote": lambda: jail_kernel_manager(env={**KernelLimits().kernel_env(),
                                                                       "AG_SB_MODE": "sandbox"}),
              # the first round includes starting the zygote (once per grading process): see the median
              "sandboxed, zygote": lambda: jail_kernel_manager(env={**KernelLimits().kernel_env(),
                                                                    "AG_SB_MODE": "sandbox", "AG_FAST_START": "1"})}
    times: dict[str, list[float]] = {m: [] for m in makers}
    os.chdir(tempfile.mkdtemp(prefix="sandbox-startup-"))
    for _ in range(rounds):
        for name, make in makers.items():
            times[name].append(asyncio.run(once(make)))
    print(f"kernel start + `import torch` + shutdown, seconds ({rounds} alternating rounds):")
    for name, values in times.items():
        print(f"  {name:22s} " + " ".join(f"{v:.2f}" for v in values) + f"   median {sorted(values)[len(values) // 2]:.2f}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["startup"]:
        startup(*(int(a) for a in sys.argv[2:]))
    else:
        main(*(int(a) for a in sys.argv[1:]))
