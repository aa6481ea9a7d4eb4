"""Kernel launcher: `python -m autograder.jail.launch CONNECTION_FILE` (started by SandboxKernelManager).

Runs as the grader, in the notebook's folder (autograded/<student>/<assignment>/). Prepares the kernel's private
runtime folder (next to the connection file: Unix sockets, a staged copy of the checks, a scratch copy of the
student's folder), drops to an unprivileged uid when started as root, and execs bwrap (or, unsandboxed on purpose,
the boot script directly).
"""
from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import sys
from pathlib import Path

from . import syscalls
from .boot import STAGED_MARK
from ..paths import CONTENT_PACKAGE, content_dir
from .limits import ENV_PREFIX, KernelLimits

PR_SET_PDEATHSIG = 1
ZYGOTE_SOCKET_ENV = "AG_ZYGOTE_SOCKET"  # set by the provisioner when a zygote serves this kernel
ZYGOTE_MOUNT_BASE_ENV = "AG_ZYGOTE_MOUNT_BASE"
KERNEL_UID_ENV = "AG_JAIL_KERNEL_UID"  # the kernel's uid, held by the provisioner (uids.py) while the kernel runs

PACKAGE = Path(__file__).resolve().parent.parent  # the autograder package (the engine)
# the course's content package (probes, provided code): imported for its location, so that an installed course works
CONTENT = content_dir()
SCRATCH_LIMIT_BYTES = 200 * 2**20
TMP_SIZE_BYTES = 512 * 2**20  # the jail's /tmp is RAM: bounded


def stage_python(stage: Path) -> None:
    """What the jail may import from this repository: the engine's kernel side (the boot code, the probes' framework
    and wire, the line format probes print) and, from the course's content package, the probes (lab/checks) and the
    code provided to students. Nothing else: not the judges and their references (lab/judges), the variants, the
    build, the grading code."""
    pkg = stage / "autograder"
    (pkg / "jail").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "jail" / "__init__.py").write_text("")
    # paths.py: boot and the zygote read the content package's name there (CONTENT_PACKAGE)
    for name in ("paths.py", "protocol.py", "probing.py", "wire.py"):
        shutil.copy2(PACKAGE / name, pkg / name)
    for name in ("boot.py", "limits.py", "syscalls.py", "zygote.py"):
        shutil.copy2(PACKAGE / "jail" / name, pkg / "jail" / name)
    content = stage / CONTENT_PACKAGE
    (content / "checks").mkdir(parents=True)
    (content / "__init__.py").write_text("")
    for src in (CONTENT / "checks").glob("*.py"):
        shutil.copy2(src, content / "checks" / src.name)
    (content / "checks" / STAGED_MARK).write_text("")  # this copy's files may be hidden (boot.hide_check_sources)
    # the code the course provides to students (in the release notebooks anyway): checks build on it
    if (CONTENT / "provided").is_dir():
        (content / "provided").mkdir()
        for src in (CONTENT / "provided").glob("*.py"):
            shutil.copy2(src, content / "provided" / src.name)


def boot_command(boot_args: list[str]) -> list[str]:
    """The kernel's boot, started in the student's folder. `-P` (Python's safe path): without it `-m` puts the current
    directory first on sys.path, so a submission holding an `autograder/` or `lab/` folder would be imported instead
    of the staged copy, before the limits are set (boot.main puts the folder back, as Jupyter has it, once they are).
    `-s`: no user site-packages."""
    return [sys.executable, "-s", "-P", "-m", "autograder.jail.boot", *boot_args]


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


def installed_packages() -> list[str]:
    """The engine's and the course's package folders that lie inside what the jail shows (a non-editable
    `pip install .` puts them in the environment's site-packages, judges included): the jail covers each with an
    empty, read-only tmpfs. The jail imports only the staged copy (stage_python, on PYTHONPATH). Empty for an
    editable install (the packages are in the repository, which the jail does not show)."""
    shown = [*python_roots(), "/usr"]
    return [package for package in sorted({os.path.realpath(PACKAGE), os.path.realpath(CONTENT)})
            if any(package == r or package.startswith(r.rstrip("/") + "/") for r in shown)]


def jail_base(as_root: bool, visible: list[str]) -> list[str]:
    """What every jail has: namespaces, read-only /usr and the Python installation, /proc, /dev, a private /tmp,
    and traversable parents for the paths in `visible` (which the caller binds or creates)."""
    cmd = [shutil.which("bwrap") or "bwrap",
           "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
           "--new-session", "--hostname", "grading",
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
    parents = sorted({str(p) for target in [*python_roots(), *visible] for p in Path(target).parents
                      if str(p) not in ("/", "/tmp", "/usr") and not str(p).startswith("/usr/")})
    for parent in parents:
        cmd += ["--perms", "0755", "--dir", parent]
    for root in python_roots():
        cmd += ["--ro-bind", root, root]
    for hidden in installed_packages():
        cmd += ["--tmpfs", hidden, "--remount-ro", hidden]
    return cmd


def finish_jail(cmd: list[str], env: dict[str, str]) -> list[str]:
    # /work/... parents of cwd are created empty by bwrap; remount them read-only above the scratch folder
    cmd += ["--remount-ro", "/"]
    cmd += ["--clearenv"]
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    return cmd


def bwrap_command(runtime: Path, cwd: Path, env: dict[str, str], as_root: bool, seccomp_fd: int) -> list[str]:
    """The jail. As root: bwrap builds it with root's rights (so it can bind a Python under /root), without a user
    namespace, and the kernel then drops to its own unprivileged uid (setpriv, see main). Not as root: bwrap makes a
    user namespace (unprivileged), the kernel keeps the grader's uid but no capabilities. Either way the kernel runs
    under the system-call filter (syscalls.py) read from `seccomp_fd`, which, among others, refuses it any new
    namespace: the one place that stops a nested user namespace on the root path."""
    cmd = ["--die-with-parent", "--seccomp", str(seccomp_fd), *jail_base(as_root, [str(cwd), str(runtime)])[1:]]
    cmd.insert(0, shutil.which("bwrap") or "bwrap")
    cmd += ["--bind", str(runtime), str(runtime),
            "--bind", str(runtime / "work"), str(cwd), "--chdir", str(cwd)]
    return finish_jail(cmd, env)


def seed_matplotlib_cache(target: Path) -> None:
    """Matplotlib rebuilds its font list (seconds) in a fresh home: give the kernel a copy of the grader's."""
    home = Path(os.path.expanduser("~"))
    for cache in [os.environ.get("MPLCONFIGDIR"), home / ".cache" / "matplotlib", home / ".config" / "matplotlib"]:
        if cache and Path(cache).is_dir():
            found = sorted(Path(cache).glob("fontlist-*.json"))
            if found:
                target.mkdir(exist_ok=True)
                for path in found:
                    shutil.copy2(path, target / path.name)
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
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
    })
    return keep


def kernel_uid() -> int:
    """The uid the provisioner allocated for this kernel (uids.py), which it holds until the kernel is gone."""
    value = os.environ.get(KERNEL_UID_ENV, "")
    if not value.isdigit() or int(value) < 1000:
        raise RuntimeError(f"{KERNEL_UID_ENV} is {value!r}: a sandboxed kernel started as root needs the unprivileged "
                           "uid its provisioner (autograder.jail.provisioner) allocates")
    return int(value)


def give_to_kernel(runtime: Path, uid: int) -> None:
    chown_tree(runtime, uid)
    os.chmod(runtime, 0o700)


def die_with_parent() -> None:
    """What bwrap's --die-with-parent does on the slow path: when the grading process dies without stopping this
    launcher (a crash, SIGKILL, a lost Dask worker), the launcher dies too, so its connection closes and the zygote
    kills the kernel with everything it started (without this, a forked kernel outlived its grading process)."""
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0 or os.getppid() != parent:
        os._exit(1)  # no way to follow the grading process, or it is already gone


def through_zygote(socket_path: str, request: dict) -> int | None:
    """Asks the zygote (zygote.py) to fork this notebook's kernel and waits for it to end: its exit status, as a
    shell reports it (128 + signal), for jupyter_client, which sees this process as the kernel. None: the zygote
    is gone before the kernel started (start it the slow way). While this process lives, the kernel lives; when
    jupyter_client kills it, the zygote kills the kernel and every process it started."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(socket_path)
        sock.sendall((json.dumps(request) + "\n").encode())
        replies = sock.makefile("r")
        first = replies.readline()
    except OSError:
        return None
    if not first:
        return None
    reply = json.loads(first)
    if "error" in reply:
        print(f"autograder.jail.launch: the zygote could not start the kernel: {reply['error']}", file=sys.stderr)
        return 1
    last = replies.readline()
    if not last:
        print("autograder.jail.launch: the zygote went away while the kernel ran", file=sys.stderr)
        return 1
    reply = json.loads(last)
    if "error" in reply:
        print(f"autograder.jail.launch: {reply['error']}", file=sys.stderr)
        return 1
    status = reply["status"]
    return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def main(argv: list[str]) -> None:
    conn = Path(argv[0]).resolve()
    info = json.loads(conn.read_text())
    runtime = conn.parent
    cwd = Path.cwd().resolve()
    stage = runtime / "py"
    sandboxed = os.environ.get("AG_SB_MODE", "sandbox") == "sandbox"
    if sandboxed and info.get("transport") != "ipc":
        # a tcp kernel would listen on the host's network, which the jail does not have: it could never be reached
        raise RuntimeError(f"the sandboxed kernel needs the ipc transport, not {info.get('transport')!r}")
    as_root = os.geteuid() == 0
    scratch_copy(cwd, runtime / "work")
    seed_matplotlib_cache(runtime / "mpl")
    (runtime / "mpl").mkdir(exist_ok=True)
    env = kernel_env(stage, runtime)
    boot_args = ["-f", str(conn)]
    if not sandboxed:
        env["AG_SB_UNSANDBOXED"] = "1"
    uid = kernel_uid() if sandboxed and as_root else None
    zygote = os.environ.get(ZYGOTE_SOCKET_ENV)
    if zygote:
        if uid is not None:
            give_to_kernel(runtime, uid)
        request = {"runtime": str(runtime), "cwd": str(cwd), "uid": uid, "env": env, "argv": boot_args,
                   "mount_base": os.environ.get(ZYGOTE_MOUNT_BASE_ENV, "/tmp")}
        die_with_parent()
        code = through_zygote(zygote, request)
        if code is not None:
            sys.exit(code)
    stage_python(stage)
    if uid is not None:
        give_to_kernel(runtime, uid)
    boot = boot_command(boot_args)
    if not sandboxed:
        os.chdir(runtime / "work")
        os.execve(sys.executable, boot, env)
    cmd = bwrap_command(runtime, cwd, env, as_root, syscalls.descriptor_for_bwrap())
    if uid is not None:
        cmd += [shutil.which("setpriv") or "/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}",
                "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    os.execv(cmd[0], cmd + boot)


if __name__ == "__main__":
    main(sys.argv[1:])
