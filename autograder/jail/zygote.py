"""The zygote: one warm Python per grading process, forked once per notebook (`python -m autograder.jail.zygote
SOCKET [--unsandboxed]`, started by zygote_host.py).

Why: a grading kernel used to start Python and `import torch` (about 3 s) for every notebook. The zygote imports
torch (one thread, before any parallel region, so no thread pool exists at fork), matplotlib (agg), ipykernel,
the checks and the provided code once, hides the check sources, and then only forks.

Where it runs (sandboxed, as root): in a *base* bwrap jail with no student file in it: /usr, the Python
installation, a private /tmp holding the spool folder (where the per-kernel runtime folders are created by the
grading process) and an empty directory where notebooks' folders will appear. Per request (one Unix-socket
connection from the kernel launcher, launch.py) it forks a *child* which, still root in the base jail:
  1. unshares mount, pid, network, IPC and UTS namespaces (fresh ones per notebook);
  2. makes every mount private, mounts a fresh tmpfs on /tmp (the spool, other kernels' runtime folders and the
     zygote's socket disappear), binds back only its own runtime folder, mounts its scratch copy of the student's
     folder at the notebook's path, fresh /dev/shm and /dev/pts, brings its own loopback up;
  3. forks the new pid namespace's init (a reaper, which mounts a /proc that shows only this notebook's processes)
     which forks the kernel: new session, bounding set emptied, groups, gid and uid set to the kernel's own uid,
     no_new_privs, the system-call filter (syscalls.py: no nested namespaces, no ptrace, mount, bpf...), stdin
     from /dev/null, every other descriptor closed, then boot.py (rlimits, the probes' seed, ipykernel).
The child reports the kernel's exit status to the launcher; when the launcher's connection closes (jupyter_client
killed it) the child kills the namespace's init, so every process of the kernel dies.

Unsandboxed (the setting Jail.unsandboxed, no bwrap): a plain fork server, no namespaces, no uid change (there is no
isolation in that mode anyway); the kernel gets its own session, and a closed connection kills that session.

Standard library only before `preload`: this module is staged into the jail with boot.py and the checks.
"""
from __future__ import annotations

import ctypes
import fcntl
import json
import os
import select
import signal
import socket
import struct
import sys

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MS_RDONLY, MS_REMOUNT = 1, 32
MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 4096, 8192, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38
SIOCSIFFLAGS, IFF_UP, IFF_LOOPBACK, IFF_RUNNING = 0x8914, 0x1, 0x8, 0x40
STASH = "/.ag-stash"  # an empty directory of the base jail: the runtime folder waits there while /tmp is replaced
KEEP_PREFIX, KEEP_ENV = "/.ag-keep-", "AG_ZYGOTE_KEEP"  # Python installations under /tmp wait in KEEP_PREFIX<i>
SECCOMP_ENV = "AG_ZYGOTE_SECCOMP"  # the file holding the kernels' system-call filter (zygote_host.py writes it)
TMP_SIZE_BYTES = 512 * 2**20
SHM_SIZE_BYTES = 64 * 2**20
_seccomp: dict = {"program": None}  # read once, before serving: the kernels' filter, as bytes

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")  # Python 3.11 has no os.unshare


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def enc(text: str | None) -> bytes | None:
        return text.encode() if text is not None else None

    _check(_libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def prctl(option: int, arg: int) -> None:
    _check(_libc.prctl(option, arg, 0, 0, 0), f"prctl {option}")


# --- once, in the zygote -------------------------------------------------------------------------------------

def preload() -> None:
    """Everything a grading kernel imports before student code, once. Threads: torch must not have started its
    pool when the zygote forks (a forked child would inherit a pool whose threads do not exist)."""

    import torch
    torch.set_num_threads(1)
    import matplotlib
    matplotlib.use("agg")
    import matplotlib.pyplot  # noqa: F401 -- loads the font list once
    import ipykernel.kernelapp  # noqa: F401
    import ipykernel.debugger  # noqa: F401 -- debugpy: 0.22 s of every kernel's start, imported on first use
    import autograder.protocol  # noqa: F401
    from autograder.jail import boot, limits  # noqa: F401
    from autograder.jail import syscalls  # noqa: F401 -- each kernel loads its filter with it
    for failure in boot.load_probes():
        print(f"autograder.jail.zygote: cannot load {failure}", file=sys.stderr)
    warm_up()
    boot.hide_check_sources()
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        raise RuntimeError(f"the zygote has {threads} threads after its imports; forking it would not be safe")


def warm_up() -> None:
    """Run once the code paths whose first call imports a great deal. torch.utils.checkpoint's first call imports
    torch._dynamo, sympy and about 800 other modules: 0.9 s, paid again by every kernel of notebooks 02 and 04
    (measured: each first cell using them took about 1 s). After it, the first use of the course's memory meter (a
    TorchDispatchMode) took 0.02 s (2026-12-07, a fresh process, 2-core machine). The random numbers drawn here do
    not matter: each kernel reseeds (`reseed`)."""
    import torch
    from torch.utils.checkpoint import checkpoint

    layer = torch.nn.Linear(4, 4)
    x = torch.ones(2, 4, requires_grad=True)
    checkpoint(layer, x, use_reentrant=False).sum().backward()


def serve(path: str, sandboxed: bool) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".tmp")
    os.chmod(path + ".tmp", 0o600)
    listener.listen(64)
    os.rename(path + ".tmp", path)  # in place only once it listens: the grading process waits for the name
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children (one per notebook) are reaped by the kernel
    lifeline = sys.stdin.fileno()  # a pipe from the grading process: EOF when it is gone
    while True:
        ready, _, _ = select.select([listener, lifeline], [], [])
        if lifeline in ready:
            return
        conn, _ = listener.accept()
        if os.fork() == 0:
            try:
                listener.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                serve_one(conn, sandboxed)
            except BaseException as exc:  # noqa: BLE001 -- whatever happened, the launcher hears it
                try:
                    conn.sendall((json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n").encode())
                except OSError:
                    pass
            finally:
                os._exit(1)
        conn.close()


# --- per notebook, in the child ------------------------------------------------------------------------------

def read_request(conn: socket.socket) -> dict:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("the launcher closed the connection before its request")
        data += chunk
    return json.loads(data)


def serve_one(conn: socket.socket, sandboxed: bool) -> None:
    req = read_request(conn)
    status_r, status_w = os.pipe()
    if sandboxed:
        isolate(req)
    pid = os.fork()
    if pid == 0:
        os.close(status_r)
        conn.close()
        if sandboxed:
            init(req, status_w)
        else:
            kernel(req, None)
    os.close(status_w)
    pidfd = os.pidfd_open(pid)
    conn.sendall(b'{"started": true}\n')
    while True:
        ready, _, _ = select.select([conn, pidfd], [], [])
        if conn in ready and not conn.recv(1):
            # the launcher is gone (jupyter_client killed it): so is the kernel, with every process it started
            try:
                # sandboxed: the init of the kernel's pid namespace; unsandboxed: the kernel's session
                os.kill(pid, signal.SIGKILL) if sandboxed else os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                os.kill(pid, signal.SIGKILL)  # unsandboxed, before the kernel's setsid
            os.waitpid(pid, 0)
            os._exit(0)
        if pidfd in ready:
            break
    _, status = os.waitpid(pid, 0)
    if sandboxed:
        reported = os.read(status_r, 64)
        status = int(reported) if reported else status
    conn.sendall((json.dumps({"status": status}) + "\n").encode())
    os._exit(0)


def isolate(req: dict) -> None:
    """Namespaces and the file system of one notebook (see the module's docstring). Root, in the base jail."""
    runtime, cwd = req["runtime"], req["cwd"]
    unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount(runtime, STASH, None, MS_BIND)
    kept = [root for root in os.environ.get(KEEP_ENV, "").split(os.pathsep) if root]
    for i, root in enumerate(kept):  # the Python installation, when it lives under /tmp
        mount(root, f"{KEEP_PREFIX}{i}", None, MS_BIND | MS_REC)
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={TMP_SIZE_BYTES},mode=1777")
    os.makedirs(runtime)
    mount(STASH, runtime, None, MS_MOVE)
    for i, root in enumerate(kept):
        os.makedirs(root)
        mount(f"{KEEP_PREFIX}{i}", root, None, MS_MOVE)
        mount(None, root, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    if not cwd.startswith("/tmp/"):
        # an empty directory of the base jail, covered here by this notebook's own tmpfs
        mount("tmpfs", req["mount_base"], "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    os.makedirs(cwd, exist_ok=True)
    mount(os.path.join(runtime, "work"), cwd, None, MS_BIND)
    os.mkdir("/tmp/home", 0o1777)
    os.chmod("/tmp/home", 0o1777)
    if os.path.isdir("/dev/shm"):
        mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={SHM_SIZE_BYTES},mode=1777")
    if os.path.isdir("/dev/pts"):
        mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:  # this namespace's own loopback, up
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", IFF_UP | IFF_LOOPBACK | IFF_RUNNING))


def init(req: dict, status_w: int) -> None:
    """pid 1 of the notebook's pid namespace: mounts its /proc, starts the kernel, reaps, reports the kernel's
    status. When it dies, the Linux kernel kills every process of the namespace."""
    try:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        pid = os.fork()
        if pid == 0:
            os.close(status_w)
            kernel(req, req["uid"])
        drop_privileges(req["uid"])
        filter_system_calls()  # this init shares the kernel's uid: it gets the kernel's filter too
        while True:
            done, status = os.waitpid(-1, 0)
            if done == pid:
                os.write(status_w, str(status).encode())
                break
    finally:
        os._exit(0)


def filter_system_calls() -> None:
    """The same filter as bwrap's --seccomp on the per-notebook path, loaded after no_new_privs, before any student
    code; every process the kernel starts inherits it."""
    from autograder.jail import syscalls
    syscalls.apply(_seccomp["program"])


def drop_privileges(uid: int) -> None:
    for cap in range(64):
        try:
            prctl(PR_CAPBSET_DROP, cap)
        except OSError:
            break  # past the last capability this Linux knows
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # from root to another uid: every capability goes
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def kernel(req: dict, uid: int | None) -> None:
    code = 1
    try:
        os.setsid()
        if uid is not None:
            drop_privileges(uid)
            filter_system_calls()
        else:
            prctl(PR_SET_NO_NEW_PRIVS, 1)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.closerange(3, 1 << 16)  # nothing of the zygote's (socket, lifeline) reaches student code
        os.chdir(req["cwd"] if uid is not None else os.path.join(req["runtime"], "work"))
        os.environ.clear()
        os.environ.update(req["env"])
        sys.argv = ["autograder.jail.boot", *req["argv"]]
        reseed(int(req["env"].get("AG_SB_THREADS", "1")))
        from autograder.jail import boot
        boot.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001
        import traceback
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code)


def reseed(threads: int) -> None:
    """A forked child would share the zygote's random state: give each kernel its own, as a fresh Python has (torch,
    too, seeds itself from the system's randomness at import)."""
    import random
    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        torch.seed()
        if threads != 1:
            torch.set_num_threads(threads)


def read_filter() -> bytes:
    path = os.environ.get(SECCOMP_ENV)
    if not path:
        raise RuntimeError(f"{SECCOMP_ENV} is not set: a sandboxed zygote serves no kernel without the system-call "
                           "filter")
    with open(path, "rb") as f:
        program = f.read()
    if not program or len(program) % 8:
        raise RuntimeError(f"{path} holds no BPF program ({len(program)} bytes)")
    return program


def main(argv: list[str]) -> None:
    sandboxed = "--unsandboxed" not in argv
    if sandboxed:
        _seccomp["program"] = read_filter()
    preload()
    serve(argv[0], sandboxed)


if __name__ == "__main__":
    main(sys.argv[1:])
