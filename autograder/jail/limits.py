"""A grading kernel's resource limits: their one list of defaults, and how they travel to the kernel.

Instructors set them as traitlets, `c.SandboxedExecute.<name>` in nbgrader_config.py (autograder/nbgrader_ext/
execute.py, whose defaults are these). SandboxedExecute fills a KernelLimits and hands it to the kernel it starts
as `AG_SB_*` environment variables, which the kernel's side (launch.py and boot.py, inside the jail) reads back:
the environment is the one channel from the grading process to the kernel process it spawns, which starts before
any configuration is read. These variables are that handshake, not settings: nothing else sets them. Standard
library only: this module is staged into the jail.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from typing import Mapping

ENV_PREFIX = "AG_SB_"


@dataclass(frozen=True)
class KernelLimits:
    memory_mb: int = 4096  # address space, MiB
    cpu_seconds: int = 600  # CPU time of all cells together
    max_processes: int = 64  # processes and threads (RLIMIT_NPROC)
    max_file_mb: int = 64  # largest file the kernel may write, MiB
    max_output_chars: int = 1_000_000  # stdout+stderr of one cell that reach nbgrader
    threads: int = 1  # torch/OpenMP threads: small tensors, and several kernels share the cores

    @staticmethod
    def env_name(field: str) -> str:
        return ENV_PREFIX + field.upper()

    def kernel_env(self) -> dict[str, str]:
        return {self.env_name(name): str(value) for name, value in asdict(self).items()}

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "KernelLimits":
        """What the kernel was started with; a missing or unreadable value keeps its default."""
        values = {}
        for f in fields(cls):
            try:
                values[f.name] = int(env[cls.env_name(f.name)])
            except (KeyError, ValueError):
                pass
        return cls(**values)
