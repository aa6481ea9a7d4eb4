"""The grading kernel's system-call filter (seccomp): built here, on the grader's side, applied to every sandboxed
kernel (bwrap's `--seccomp FD` on the per-notebook path, `apply` in each kernel forked from the zygote).

What it denies, and why: the calls no notebook needs and where most escapes from a container start (the list of
Docker's default profile and Flatpak's, the calls a kernel without capabilities could still reach): creating or
entering namespaces (`unshare`, `setns`, `clone` with a CLONE_NEW* flag: a nested user namespace gives back every
capability inside it), ptrace and reading other processes' memory, mounting, keyrings, eBPF, perf events,
userfaultfd and io_uring (the sources of many recent kernel exploits), kernel modules, kexec, swap, reboot, file
handles (`open_by_handle_at`, the "shocker" escape), and writing into a terminal's input (TIOCSTI). A denied call
fails with EPERM, which the notebook sees as an ordinary `PermissionError` (a killed kernel would tell the student
nothing). `clone3` fails with ENOSYS instead: its flags are in memory, where a filter cannot read them, and ENOSYS
makes the C library fall back to `clone`, whose flags it can (what Flatpak and Chromium do).

Built with libseccomp (through `pyseccomp`, a requirement of this package, which loads the system's
libseccomp.so.2: Debian/Ubuntu's `libseccomp2`, present wherever apt is). Where it cannot be built, `problem()`
says why, and the jail counts as unavailable: grading refuses, as without bwrap (see `autograder.jail.probe`).
"""
from __future__ import annotations

import ctypes
import errno
import os
from functools import lru_cache
from pathlib import Path

# Denied with EPERM on every architecture the filter covers; names a given architecture lacks are skipped.
DENIED = (
    # namespaces: no nested user namespace (nor any other), no entering another process's
    "unshare", "setns",
    # other processes: tracing, reading or writing their memory, comparing their kernel objects, taking their files
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    # the file system tree
    "mount", "umount", "umount2", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
    "mount_setattr", "pivot_root", "chroot", "open_by_handle_at", "quotactl", "quotactl_fd", "acct",
    "swapon", "swapoff",
    # the kernel's attack surface that no notebook uses
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "lookup_dcookie", "uselib", "modify_ldt",
    "vm86", "vm86old", "ioperm", "iopl", "syslog", "vhangup", "nfsservctl",
    # the machine itself
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "create_module",
    "reboot", "settimeofday", "clock_settime", "stime",
)
# clone's first argument holds its flags (x86-64, arm64, i386, arm; not s390, which swaps the first two)
CLONE_NAMESPACE_FLAGS = {"CLONE_NEWNS": 0x00020000, "CLONE_NEWCGROUP": 0x02000000, "CLONE_NEWUTS": 0x04000000,
                         "CLONE_NEWIPC": 0x08000000, "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
                         "CLONE_NEWNET": 0x40000000}
TIOCSTI, TIOCLINUX = 0x5412, 0x541C  # push characters into a terminal's input; the console's sub-commands
# Compat architectures a 64-bit process can also call the kernel through (int 0x80, x32): filtered alike. Any other
# architecture gets libseccomp's default for an unknown one: the process is killed.
COMPAT = {"X86_64": ("X86", "X32"), "AARCH64": ("ARM",)}

FILE_ENV = "AG_JAIL_SECCOMP_FILE"  # the program's file, for the kernel launcher (launch.py)
INSTALL = ("install libseccomp (Debian/Ubuntu: `apt-get install libseccomp2`, as root: `make system-packages`) and "
           "this package's requirements (`make setup`, which installs pyseccomp)")


class FilterUnavailable(RuntimeError):
    pass


def _build() -> bytes:
    try:
        import pyseccomp as seccomp
    except ImportError as exc:  # pyseccomp missing, or it could not find libseccomp.so.2 (RuntimeError is caught below)
        raise FilterUnavailable(f"the seccomp bindings do not load ({exc})") from exc
    f = seccomp.SyscallFilter(seccomp.ALLOW)
    native = next((name for name, value in vars(seccomp.Arch).items() if value == seccomp.system_arch()), None)
    for name in COMPAT.get(native, ()):
        try:
            f.add_arch(getattr(seccomp.Arch, name))
        except OSError:
            pass  # a libseccomp without this architecture: its calls are killed (the default for unknown ones)
    eperm = seccomp.ERRNO(errno.EPERM)

    def rule(action: int, name: str, *args) -> None:
        number = seccomp.resolve_syscall(seccomp.Arch.NATIVE, name)
        if number == -1:  # __NR_SCMP_ERROR: a name libseccomp does not know on any architecture it filters
            return
        f.add_rule(action, number, *args)

    for name in DENIED:
        rule(eperm, name)
    for flag in CLONE_NAMESPACE_FLAGS.values():
        rule(eperm, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    for request in (TIOCSTI, TIOCLINUX):
        # the request is an int: compare its low 32 bits only (a sign-extended value once slipped past Flatpak's)
        rule(eperm, "ioctl", seccomp.Arg(1, seccomp.MASKED_EQ, 0xFFFFFFFF, request))
    read, write = os.pipe()
    try:
        f.export_bpf(os.fdopen(write, "wb", closefd=False))
        os.close(write)
        write = -1
        program = b""
        while chunk := os.read(read, 65536):
            program += chunk
    finally:
        os.close(read)
        if write != -1:
            os.close(write)
    if not program or len(program) % 8:
        raise FilterUnavailable(f"libseccomp exported {len(program)} bytes, not a BPF program")
    return program


@lru_cache(maxsize=None)
def _cached() -> bytes | str:
    try:
        return _build()
    except FilterUnavailable as exc:
        return str(exc)
    except (RuntimeError, OSError, AttributeError) as exc:  # pyseccomp raises RuntimeError without libseccomp.so.2
        return f"the seccomp filter cannot be built ({type(exc).__name__}: {exc})"


def problem() -> str | None:
    """None when the filter can be built here; otherwise why not, and what to install."""
    built = _cached()
    return None if isinstance(built, bytes) else f"{built}: {INSTALL}"


def program() -> bytes:
    """The filter as a classic BPF program (what `seccomp(2)` and bwrap's --seccomp take), built once per process."""
    built = _cached()
    if isinstance(built, str):
        raise FilterUnavailable(f"{built}: {INSTALL}")
    return built


def memfd(bpf: bytes) -> int:
    """An inheritable descriptor holding `bpf` from offset 0, for bwrap's `--seccomp FD` (bwrap reads and closes it)."""
    fd = os.memfd_create("autograder-seccomp", 0)  # without MFD_CLOEXEC: it must survive the exec of bwrap
    os.write(fd, bpf)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def program_file(folder: Path) -> Path:
    """The program written once into `folder` (the grading process's jail folder, which no kernel sees), for the
    zygote and the kernel launchers: building it costs a launcher about 50 ms (libseccomp's look-up and build)."""
    path = folder / "seccomp.bpf"
    if not path.exists():
        partial = folder / f".seccomp.bpf.{os.getpid()}"
        partial.write_bytes(program())
        os.replace(partial, path)
    return path


def descriptor_for_bwrap() -> int:
    """An inheritable descriptor on the program for bwrap's `--seccomp FD`: the grading process's file (FILE_ENV,
    set by the provisioner), or one built here when the launcher was started without it."""
    path = os.environ.get(FILE_ENV)
    if not path:
        return memfd(program())
    fd = os.open(path, os.O_RDONLY)
    os.set_inheritable(fd, True)  # it must survive the exec of bwrap
    return fd


# --- inside the jail: standard library only (the zygote applies it in each kernel it forks) -------------------

PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def apply(bpf: bytes) -> None:
    """Loads the filter into this process (and every process it starts). Needs no_new_privs (or CAP_SYS_ADMIN) and,
    to cover every thread, a process that has only one: the zygote's children have."""
    buffer = ctypes.create_string_buffer(bpf, len(bpf))
    prog = _SockFprog(len(bpf) // 8, ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"loading the seccomp filter: {os.strerror(err)}")
