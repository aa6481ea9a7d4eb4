"""How a grading kernel is started, through jupyter_client's public extension point: a kernel provisioner.

`jail_kernel_manager` gives nbclient a JailKernelManager (jupyter_client's AsyncKernelManager whose interrupt is
followed through: a kernel that does not answer again within a few seconds is killed) whose kernel spec runs the
jail's launcher
(`python -m autograder.jail.launch {connection_file}`, see launch.py) over Unix sockets (Jupyter's `ipc` transport)
in a private runtime folder, with the kernel limits in the spec's environment, provisioned by JailProvisioner
(registered as `autograder-jail` in the entry-point group `jupyter_client.kernel_provisioners`, pyproject.toml).
JailProvisioner is jupyter_client's LocalProvisioner plus the runtime folder, which it removes once the kernel is
gone. With the fast start on (AG_FAST_START=1,
SandboxedExecute.fast_start), it also points the launcher at this process's zygote (zygote_host.py), which forks
the kernel from a warm Python instead of starting one.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty

from jupyter_client import protocol_version_info
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import KernelProvisionerFactory, LocalProvisioner
from jupyter_client.session import Session
from nbclient.exceptions import DeadKernelError
from traitlets import Float, Instance, Unicode

from . import rundir, syscalls, uids, zygote_host
from .launch import KERNEL_UID_ENV, ZYGOTE_MOUNT_BASE_ENV, ZYGOTE_SOCKET_ENV

PROVISIONER_NAME = "autograder-jail"
KERNEL_NAME = "autograder-jail"


class ProvisionerNotRegistered(RuntimeError):
    pass


class JailProvisioner(LocalProvisioner):
    """LocalProvisioner, plus the kernel's private runtime folder and (as root) its own uid."""

    runtime = Unicode(help="The kernel's private folder (sockets, staged checks, scratch copy)").tag(config=True)

    async def pre_launch(self, **kwargs):
        kwargs = await super().pre_launch(**kwargs)
        env = kwargs.get("env")
        sandboxed = env is not None and env.get("AG_SB_MODE", "sandbox") == "sandbox"
        if sandboxed:
            env[syscalls.FILE_ENV] = str(syscalls.program_file(rundir.folder()))  # built once per grading process
        if sandboxed and os.geteuid() == 0:
            # held by this process until the kernel is gone (cleanup): no other kernel of this machine gets it
            if getattr(self, "_uid", None) is None:
                self._uid = uids.allocate()
            env[KERNEL_UID_ENV] = str(self._uid.uid)
        if env is not None and env.get(zygote_host.FAST_START_ENV) == "1":
            zygote = zygote_host.zygote_for(Path(kwargs.get("cwd") or os.getcwd()),
                                            sandboxed=env.get("AG_SB_MODE", "sandbox") == "sandbox")
            if zygote is not None:
                env[ZYGOTE_SOCKET_ENV], env[ZYGOTE_MOUNT_BASE_ENV] = zygote.socket, zygote.mount_base
        return kwargs

    async def launch_kernel(self, cmd: list[str], **kwargs):
        info = await super().launch_kernel(cmd, **kwargs)
        await self._sockets_bound(info)
        return info

    async def _sockets_bound(self, info, every: float = 0.005, at_most: float = 60.0) -> None:
        """Returns once the kernel has bound its five ipc sockets (or has exited, or `at_most` seconds passed).
        Why: jupyter_client connects its channels as soon as this returns, and a ZeroMQ socket that connects to an
        ipc path nobody has bound yet retries only every 100 ms, up to 0.1 s lost on a kernel that binds in about
        0.12 s (forked from the zygote). Measured with jupyter_client's own wait_for_ready: 0.03 s per notebook on
        average."""
        if info.get("transport") != "ipc":
            return
        paths = [Path(f"{info['ip']}-{info[name]}") for name in
                 ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")]
        deadline = time.monotonic() + at_most
        while not all(path.exists() for path in paths):
            if self.process is None or self.process.poll() is not None or time.monotonic() > deadline:
                return  # jupyter_client reports a dead kernel or a start-up timeout, as without this wait
            await asyncio.sleep(every)

    async def kill(self, restart: bool = False) -> None:
        """Kills the kernel and returns once it is gone. jupyter_client then checks every 100 ms whether it is
        alive, and right after a SIGKILL it still is: returning first saved that 0.1 s of every notebook."""
        await super().kill(restart=restart)
        deadline = time.monotonic() + 1.0
        while self.process is not None and self.process.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.002)

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart=restart)
        if not restart:
            shutil.rmtree(self.runtime, ignore_errors=True)
            if getattr(self, "_uid", None) is not None:
                self._uid.release()
                self._uid = None


class ReadyKernelClient(AsyncKernelClient):
    """jupyter_client's client, with a `wait_for_ready` that ends as soon as the kernel is ready instead of 0.2 s
    later. jupyter_client's own waits for the kernel_info reply and then until IOPub has been silent for 0.2 s
    (to drain the kernel's start-up messages): 0.2 s of every notebook. This one drains IOPub up to the kernel's
    `idle` status for the kernel_info request it answered, which comes after every start-up message."""

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            try:
                reply = await self.shell_channel.get_msg(timeout=1)
            except Empty:
                reply = None
            if reply is not None and reply["msg_type"] == "kernel_info_reply" and \
                    await self._idle_after(reply["parent_header"].get("msg_id"), wait=1.0):
                self.adapt_to(reply)
                return
            # no reply yet, or IOPub not connected in time to see the idle status: ask again, as jupyter_client does
            if not await self.is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")

    def adapt_to(self, kernel_info_reply: dict) -> None:
        """What jupyter_client's own wait_for_ready does with the reply, written with its public names: a kernel
        that speaks another major version of the message protocol gets its messages adapted by the session.
        tests/test_scoring.py compares the two on a reply of protocol 4."""
        major = int(kernel_info_reply["content"]["protocol_version"].split(".")[0])
        if major != protocol_version_info[0]:
            self.session.adapt_version = major

    async def _idle_after(self, msg_id: str | None, wait: float) -> bool:
        end = time.monotonic() + wait
        while (left := end - time.monotonic()) > 0:
            try:
                msg = await self.iopub_channel.get_msg(timeout=left)
            except Empty:
                return False
            if msg["msg_type"] == "status" and msg["parent_header"].get("msg_id") == msg_id and \
                    msg["content"].get("execution_state") == "idle":
                return True
        return False


class KernelStoppedAfterInterrupt(DeadKernelError):
    """The kernel did not answer again after an interrupt, and was killed."""


class JailKernelManager(AsyncKernelManager):
    """jupyter_client's AsyncKernelManager, whose interrupt is followed through.

    nbclient interrupts a cell that runs past its time limit (`interrupt_on_timeout`, on in nbgrader) by calling
    this manager's public `interrupt_kernel`, and has no hook for a kernel that ignores the interrupt (student code
    can: `signal.signal(signal.SIGINT, signal.SIG_IGN)`, or a C loop): that cell would then wait on nbclient's IOPub
    timeout and end the notebook with an error. Here the interrupt waits until the kernel answers a kernel_info
    request again (it does once the interrupted cell has stopped), at most `interrupt_grace` seconds; a kernel
    that does not is killed, and KernelStoppedAfterInterrupt (nbclient's DeadKernelError) goes up through nbclient
    to SandboxedExecute, which records why in the cell. The request goes through a client of its own, so that no
    message nbclient waits for is taken from its channels."""

    interrupt_grace = Float(5.0, help="Seconds a kernel has to answer again after an interrupt before it is killed"
                            ).tag(config=True)

    async def interrupt_kernel(self) -> None:
        await super().interrupt_kernel()
        if await self._answers_within(self.interrupt_grace):
            return
        await self.provisioner.kill()
        await self.provisioner.wait()
        raise KernelStoppedAfterInterrupt(
            f"the kernel did not answer within {self.interrupt_grace:g} s of an interrupt, so it was stopped")

    async def _answers_within(self, seconds: float) -> bool:
        # A session of its own: a client gets the manager's session by default, whose id is also the identity of
        # the client's shell socket, and a second socket with nbclient's identity takes over its route at the
        # kernel (measured: nbclient's next cell then got no answer).
        client = self.client(session=Session(key=self.session.key, signature_scheme=self.session.signature_scheme))
        client.start_channels()
        try:
            await client.kernel_info(reply=True, timeout=seconds)
            return True
        except TimeoutError:
            return False
        finally:
            client.stop_channels()


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


def jail_kernel_spec(runtime: Path, env: dict[str, str]) -> KernelSpec:
    return KernelSpec(
        argv=[sys.executable, "-m", "autograder.jail.launch", "{connection_file}"],
        display_name="Python 3 (grading sandbox)", language="python", interrupt_mode="message", env=dict(env),
        metadata={"kernel_provisioner": {"provisioner_name": PROVISIONER_NAME,
                                         "config": {"runtime": str(runtime)}}})


def jail_kernel_manager(config=None, env: dict[str, str] | None = None) -> JailKernelManager:
    """A kernel manager for one grading kernel."""
    env = env or {}
    # in this process's jail folder (rundir.py: removed at exit, or by the next grading process after a SIGKILL),
    # which is also the spool that the zygote's jail binds, where a kernel forked from it finds its runtime folder
    runtime = Path(tempfile.mkdtemp(prefix="ag-kernel-", dir=rundir.folder()))
    os.chmod(runtime, 0o711)
    spec = jail_kernel_spec(runtime, env)
    try:
        require_registered()
    except ProvisionerNotRegistered:
        shutil.rmtree(runtime, ignore_errors=True)
        raise
    km = JailKernelManager(config=config, kernel_name=KERNEL_NAME, kernel_spec_manager=JailKernelSpecManager(spec=spec),
                           transport="ipc", ip=str(runtime / "k"), connection_file=str(runtime / "kernel.json"),
                           client_class=f"{__name__}.ReadyKernelClient", client_factory=ReadyKernelClient)
    return km
