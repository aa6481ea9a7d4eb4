"""Kernel launcher: `python -m autograder.jail.launch CONNECTION_FILE` (started by SandboxKernelManager).

Runs as the grader, in the notebook's folder (autograded/<student>/<assignment>/). Prepares the kernel's private
runtime folder (next to the connection file: Unix sockets, a staged copy of the checks, a scratch copy of the
student's folder), drops to an unprivileged uid when started as root, and execs bwrap (or, unsandboxed on purpose,
the boot script directly).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from .limits import ENV_PREFIX, KernelLimits

PACKAGE = Path(__file__).resolve().parent.parent  # the autograder package
SCRATCH_LIMIT_BYTES = 200 * 2**20
TMP_SIZE_BYTES = 512 * 2**20  # the jail's /tmp is RAM: bounded
KERNEL_UID_BASE = 200_000  # per-kernel uids: 200000..299999 (RLIMIT_NPROC counts per uid, so kernels don't share)


def stage_python(stage: Path) -> None:
    """What the jail may import from this repository: the checks, the code provided to students, and the
    boot/guard code and the line formats they print. Nothing else (not the variants, the build, the grading code)."""
    pkg = stage / "autograder"
    (pkg / "checks").mkdir(parents=True)
    (pkg / "jail").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "jail" / "__init__.py").write_text("")
    shutil.copy2(PACKAGE / "protocol.py", pkg / "protocol.py")
    for name in ("boot.py", "guard.py", "limits.py"):
        shutil.copy2(PACKAGE / "jail" / name, pkg / "jail" / name)
    for src in (PACKAGE / "checks").glob("*.py"):
        shutil.copy2(src, pkg / "checks" / src.name)
    # the code the course provides to students (in the release notebooks anyway): checks build on it
    if (PACKAGE / "provided").is_dir():
        (pkg / "provided").mkdir()
        for src in (PACKAGE / "provided").glob("*.py"):
            shutil.copy2(src, pkg / "provided" / src.name)


def scratch_copy(cwd: Path, work: Path) -> None:
    """The student's folder as the kernel sees it: a throw-away copy, without notebooks (which hold the tests)."""
    total = 0
    work.mkdir()
    if any((cwd / name).exists() for name in ("nbgrader_config.py", "gradebook.db", "source")):
        return  # a course root, not a submission folder: copy nothing (the kernel must not see course files)
    for path in sorted(cwd.rglob("*")):
        rel = path.relative_to(cwd)
        if path.is_symlink() or ".ipynb_checkpoints" in rel.parts or path.suffix == ".ipynb":
            continue
        if path.is_dir():
            (work / rel).mkdir(parents=True, exist_ok=True)
        elif path.is_file():
            total += path.stat().st_size
            if total > SCRATCH_LIMIT_BYTES:
                break
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, work / rel)


def chown_tree(root: Path, uid: int) -> None:
    os.chown(root, uid, uid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), uid, uid, follow_symlinks=False)


def python_roots() -> list[str]:
    roots = {os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}
    return sorted(r for r in roots if not r.startswith(("/usr/", "/proc", "/dev")) and r != "/usr")


def bwrap_command(runtime: Path, cwd: Path, env: dict[str, str], as_root: bool) -> list[str]:
    """The jail. As root: bwrap builds it with root's rights (so it can bind a Python under /root), without a user
    namespace, and the kernel then drops to its own unprivileged uid (setpriv, see main). Not as root: bwrap makes a
    user namespace (unprivileged), the kernel keeps the grader's uid but no capabilities."""
    cmd = [shutil.which("bwrap") or "bwrap",
           "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
           "--die-with-parent", "--new-session", "--hostname", "grading",
           "--ro-bind", "/usr", "/usr"]
    if not as_root:
        cmd[1:1] = ["--unshare-user", "--disable-userns", "--uid", "1000", "--gid", "1000", "--cap-drop", "ALL"]
    for link in ("bin", "lib", "lib64", "sbin"):
        target = Path("/") / link
        if target.is_symlink():
            cmd += ["--symlink", os.readlink(target), str(target)]
        elif target.is_dir():
            cmd += ["--ro-bind", str(target), str(target)]
    for path in ("/etc/ld.so.cache", "/etc/localtime", "/etc/nsswitch.conf", "/etc/fonts"):
        if os.path.exists(path):
            cmd += ["--ro-bind", path, path]
    cmd += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", str(TMP_SIZE_BYTES), "--tmpfs", "/tmp", "--perms", "1777", "--dir", "/tmp/home"]
    # bwrap would create the parents of bind targets with the host's modes (/root is 0700): make them traversable
    parents = sorted({str(p) for target in [*python_roots(), str(cwd)] for p in Path(target).parents
                      if str(p) not in ("/", "/tmp", "/usr") and not str(p).startswith("/usr/")})
    for parent in parents:
        cmd += ["--perms", "0755", "--dir", parent]
    for root in python_roots():
        cmd += ["--ro-bind", root, root]
    cmd += ["--bind", str(runtime), str(runtime),
            "--bind", str(runtime / "work"), str(cwd), "--chdir", str(cwd)]
    # /work/... parents of cwd are created empty by bwrap; remount them read-only above the scratch folder
    cmd += ["--remount-ro", "/"]
    cmd += ["--clearenv"]
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    return cmd


def seed_matplotlib_cache(runtime: Path) -> None:
    """Matplotlib rebuilds its font list (seconds) in a fresh home: give the kernel a copy of the grader's."""
    home = Path(os.path.expanduser("~"))
    for cache in [os.environ.get("MPLCONFIGDIR"), home / ".cache" / "matplotlib", home / ".config" / "matplotlib"]:
        if cache and Path(cache).is_dir():
            found = sorted(Path(cache).glob("fontlist-*.json"))
            if found:
                (runtime / "mpl").mkdir(exist_ok=True)
                for path in found:
                    shutil.copy2(path, runtime / "mpl" / path.name)
                return


def kernel_env(stage: Path, runtime: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items()
            if k.startswith(ENV_PREFIX) or k in ("NBGRADER_EXECUTION", "LANG", "LC_ALL", "TZ")}
    threads = str(KernelLimits.from_env().threads)
    keep.update({
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp/home", "TMPDIR": "/tmp", "MPLCONFIGDIR": str(runtime / "mpl"),
        "FONTCONFIG_FILE": "/etc/fonts/fonts.conf", "XDG_CACHE_HOME": "/tmp/home/.cache", "MPLBACKEND": "agg",
        "PYTHONPATH": str(stage), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
        "AG_SB_KEY_FILE": str(runtime / "verdict.key"),
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
    })
    return keep


def main(argv: list[str]) -> None:
    conn = Path(argv[0]).resolve()
    info = json.loads(conn.read_text())
    runtime = conn.parent
    cwd = Path.cwd().resolve()
    stage = runtime / "py"
    stage_python(stage)
    scratch_copy(cwd, runtime / "work")
    (runtime / "mpl").mkdir()
    seed_matplotlib_cache(runtime)
    env = kernel_env(stage, runtime)
    boot = [sys.executable, "-s", "-m", "autograder.jail.boot", "-f", str(conn)]
    sandboxed = os.environ.get("AG_SB_MODE", "sandbox") == "sandbox"
    assert info.get("transport") == "ipc" or not sandboxed, "the sandboxed kernel needs the ipc transport"
    if not sandboxed:
        os.chdir(runtime / "work")
        env["AG_SB_UNSANDBOXED"] = "1"
        os.execve(sys.executable, boot, env)
    as_root = os.geteuid() == 0
    cmd = bwrap_command(runtime, cwd, env, as_root)
    if as_root:
        uid = KERNEL_UID_BASE + os.getpid() % 100_000
        chown_tree(runtime, uid)
        os.chmod(runtime, 0o700)
        cmd += [shutil.which("setpriv") or "/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    os.execv(cmd[0], cmd + boot)


if __name__ == "__main__":
    main(sys.argv[1:])
