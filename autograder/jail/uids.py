"""Kernel uids, one per running kernel on this machine (grading as root): two kernels never share one, so neither
shares the other's process limit (RLIMIT_NPROC counts per uid) nor its files' ownership.

A uid is held by binding an abstract Unix socket named after it (`@autograder-kernel-uid-<uid>`): the bind fails
while any process of this machine holds that name, and the kernel releases it when the holder closes it or dies,
however it dies, so nothing is left to clean up (no lock files). The holder is the grading process, for as long as
the kernel runs (JailProvisioner: from its launch to its clean-up). Abstract names are per network namespace: every
grading process of a machine runs in the host's; kernels, in namespaces of their own, cannot take or free one.
"""
from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass

BASE, COUNT = 200_000, 100_000  # 200000..299999: outside any uid a Debian system gives out (0..65535, 65534 nobody)
NAME = "\0autograder-kernel-uid-{}"


class NoFreeUid(RuntimeError):
    pass


@dataclass
class KernelUid:
    uid: int
    _sock: socket.socket

    def release(self) -> None:
        self._sock.close()


def allocate(start: int | None = None) -> KernelUid:
    """A uid no other running kernel of this machine has, held until `release()` (or this process's end). The search
    starts at a place that depends on this process's pid, so concurrent grading processes rarely try the same uids."""
    first = os.getpid() % COUNT if start is None else (start - BASE) % COUNT
    for i in range(COUNT):
        uid = BASE + (first + i) % COUNT
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(NAME.format(uid))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                continue
            raise
        return KernelUid(uid, sock)
    raise NoFreeUid(f"all {COUNT} kernel uids ({BASE}..{BASE + COUNT - 1}) are in use")
