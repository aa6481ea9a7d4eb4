# Calls, with harmless arguments, each system call the jail's filter denies (ptrace, mount, keyctl, bpf,
# perf_event_open, userfaultfd, unshare, setns, kexec_load, open_by_handle_at, modules, swap, reboot, io_uring...):
# every one must fail with EPERM (a readable error, not a killed kernel); clone3 with ENOSYS (so that the C library
# falls back to clone, whose flags the filter reads); threads and subprocesses still work.
# base: correct
# expect: score == 8
# expect: no LEAK
# reason: denied with EPERM: 27 of 27
# reason: clone3: ENOSYS
import ctypes
import errno
import platform
import subprocess
import threading

NUMBERS = {  # x86_64, aarch64
    "unshare": (272, 97), "setns": (308, 268), "ptrace": (101, 117), "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271), "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41),
    "chroot": (161, 51), "open_by_handle_at": (304, 265), "keyctl": (250, 219), "add_key": (248, 217),
    "request_key": (249, 218), "bpf": (321, 280), "perf_event_open": (298, 241), "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425), "kexec_load": (246, 104), "kexec_file_load": (320, 294),
    "init_module": (175, 105), "finit_module": (313, 273), "delete_module": (176, 106), "swapon": (167, 224),
    "swapoff": (168, 225), "reboot": (169, 142), "fsopen": (430, 430), "move_mount": (429, 429),
}
column = {"x86_64": 0, "aarch64": 1}[platform.machine()]
ARGS = {"unshare": (0,), "ptrace": (16, 1)}  # unshare(0) would succeed unfiltered; ptrace: PTRACE_ATTACH to pid 1
libc = ctypes.CDLL(None, use_errno=True)


def call(number: int, args=(0, 0, 0, 0, 0)) -> str:
    ctypes.set_errno(0)
    rc = libc.syscall(number, *[ctypes.c_long(a) for a in args])
    return "succeeded" if rc >= 0 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))


denied = 0
for name, numbers in NUMBERS.items():
    outcome = call(numbers[column], ARGS.get(name, (0, 0, 0, 0, 0)))
    if outcome == "EPERM":
        denied += 1
    else:
        print(f"LEAK {name}: {outcome}")
print(f"denied with EPERM: {denied} of {len(NUMBERS)}")
print(f"clone3: {call(435, (0, 0))}")
worker = threading.Thread(target=lambda: None)
worker.start()
worker.join()
print("a thread and a subprocess still run:", subprocess.run(["true"]).returncode == 0)
