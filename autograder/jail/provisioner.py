"""How a grading kernel is started, through jupyter_client's public extension point: a kernel provisioner.

`jail_kernel_manager` gives nbclient an ordinary AsyncKernelManager whose kernel spec runs the jail's launcher
(`python -m autograder.jail.launch {connection_file}`, see launch.py) over Unix sockets (Jupyter's `ipc` transport)
in a private runtime folder, with the kernel limits in the spec's environment, provisioned by JailProvisioner
(registered as `autograder-jail` in the entry-point group `jupyter_client.kernel_provisioners`, pyproject.toml).
JailProvisioner is jupyter_client's LocalProvisioner plus the runtime folder: it writes this kernel's verdict key
there before the launch and removes the folder once the kernel is gone. With the fast start on (AG_FAST_START=1,
SandboxedExecute.fast_start), it also points the launcher at this process's zygote (zygote_host.py), which forks
the kernel from a warm Python instead of starting one.
"""
from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import KernelProvisionerFactory, LocalProvisioner
from traitlets import Instance, Unicode

from . import zygote_host
from .launch import ZYGOTE_MOUNT_BASE_ENV, ZYGOTE_SOCKET_ENV

PROVISIONER_NAME = "autograder-jail"
KERNEL_NAME = "autograder-jail"


class ProvisionerNotRegistered(RuntimeError):
    pass


class JailProvisioner(LocalProvisioner):
    """LocalProvisioner, plus the kernel's private runtime folder and its verdict key."""

    runtime = Unicode(help="The kernel's private folder (sockets, staged checks, scratch copy)").tag(config=True)
    verdict_key = Unicode(help="The kernel's verdict key, hex (written to the runtime folder for the guard)"
                          ).tag(config=True)

    async def pre_launch(self, **kwargs):
        key_file = Path(self.runtime) / "verdict.key"
        key_file.write_bytes(bytes.fromhex(self.verdict_key))
        os.chmod(key_file, 0o600)
        kwargs = await super().pre_launch(**kwargs)
        env = kwargs.get("env")
        if env is not None and env.get(zygote_host.FAST_START_ENV) == "1" and Path(self.runtime).parent == \
                zygote_host.spool():
            zygote = zygote_host.zygote_for(Path(kwargs.get("cwd") or os.getcwd()),
                                            sandboxed=env.get("AG_SB_MODE", "sandbox") == "sandbox")
            if zygote is not None:
                env[ZYGOTE_SOCKET_ENV], env[ZYGOTE_MOUNT_BASE_ENV] = zygote.socket, zygote.mount_base
        return kwargs

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart=restart)
        if not restart:
            shutil.rmtree(self.runtime, ignore_errors=True)


class JailKernelSpecManager(KernelSpecManager):
    """Knows one kernel, the jail's, whatever name the notebook gives."""

    spec = Instance(KernelSpec)

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return self.spec

    def find_kernel_specs(self) -> dict[str, str]:
        return {}


def require_registered() -> None:
    """Raises ProvisionerNotRegistered, saying what to do, where this package's entry point is not installed."""
    probe = KernelSpec(argv=["true"], display_name="probe",
                       metadata={"kernel_provisioner": {"provisioner_name": PROVISIONER_NAME}})
    if not KernelProvisionerFactory.instance().is_provisioner_available(probe):
        raise ProvisionerNotRegistered(
            f"the grading kernel's provisioner '{PROVISIONER_NAME}' is not registered with jupyter_client: install "
            "this course's package into the environment (`make setup`, or `pip install -e .`)")


def jail_kernel_spec(runtime: Path, verdict_key: bytes, env: dict[str, str]) -> KernelSpec:
    return KernelSpec(
        argv=[sys.executable, "-m", "autograder.jail.launch", "{connection_file}"],
        display_name="Python 3 (grading sandbox)", language="python", interrupt_mode="message", env=dict(env),
        metadata={"kernel_provisioner": {"provisioner_name": PROVISIONER_NAME,
                                         "config": {"runtime": str(runtime), "verdict_key": verdict_key.hex()}}})


def jail_kernel_manager(config=None, env: dict[str, str] | None = None) -> tuple[AsyncKernelManager, bytes]:
    """A kernel manager for one grading kernel, and the key its verdicts are signed with."""
    env = env or {}
    fast = env.get(zygote_host.FAST_START_ENV) == "1" and \
        zygote_host.possible(sandboxed=env.get("AG_SB_MODE", "sandbox") == "sandbox")
    # a kernel forked from the zygote finds its runtime folder in the spool, which the zygote's jail binds
    runtime = Path(tempfile.mkdtemp(prefix="ag-kernel-", dir=zygote_host.spool() if fast else None))
    os.chmod(runtime, 0o711)
    key = secrets.token_bytes(32)
    spec = jail_kernel_spec(runtime, key, env)
    try:
        require_registered()
    except ProvisionerNotRegistered:
        shutil.rmtree(runtime, ignore_errors=True)
        raise
    km = AsyncKernelManager(config=config, kernel_name=KERNEL_NAME, kernel_spec_manager=JailKernelSpecManager(spec=spec),
                            transport="ipc", ip=str(runtime / "k"), connection_file=str(runtime / "kernel.json"))
    return km, key
