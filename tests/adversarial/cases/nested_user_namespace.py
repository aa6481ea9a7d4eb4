# Tries to make a user namespace, where most recent Linux privilege escalations start (inside it, a process holds
# every capability): unshare(CLONE_NEWUSER), clone with CLONE_NEWUSER, and the `unshare` and `bwrap` commands. The
# jail's system-call filter refuses them all with EPERM, on every path (as root, forked from the zygote, not as root).
# base: correct
# expect: score == 8
# expect: no LEAK
# reason: unshare(CLONE_NEWUSER): refused: EPERM
# reason: clone(CLONE_NEWUSER): refused: EPERM
import ctypes
import errno
import os
import platform
import subprocess

CLONE_NEWUSER, SIGCHLD = 0x10000000, 17
SYS_CLONE = {"x86_64": 56, "aarch64": 220}[platform.machine()]
libc = ctypes.CDLL(None, use_errno=True)


def failure() -> str:
    return errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))


if libc.unshare(CLONE_NEWUSER) == 0:
    print("LEAK unshare(CLONE_NEWUSER) made a user namespace")
else:
    print(f"unshare(CLONE_NEWUSER): refused: {failure()}")
# a raw clone without a new stack behaves like fork: a child that got through leaves at once
pid = libc.syscall(SYS_CLONE, ctypes.c_long(CLONE_NEWUSER | SIGCHLD), *[ctypes.c_long(0)] * 4)
if pid == 0:
    os._exit(0)
if pid > 0:
    os.waitpid(pid, 0)
    print("LEAK clone(CLONE_NEWUSER) made a child in a user namespace")
else:
    print(f"clone(CLONE_NEWUSER): refused: {failure()}")
for cmd in (["unshare", "--user", "--map-root-user", "id", "-u"],
            ["bwrap", "--unshare-user", "--ro-bind", "/", "/", "id", "-u"]):
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        print(f"{cmd[0]}: not in the jail")
        continue
    print(f"LEAK {cmd[0]} ran in a user namespace" if run.returncode == 0 else
          f"{cmd[0]}: refused: {run.stderr.strip()[:160]}")
