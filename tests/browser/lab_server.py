"""Start JupyterLab (with nbgrader's extensions) on loopback for the browser tests, and always stop it.

The server runs in its own process group, from the student's folder (its working directory is where nbgrader's
Validate handler looks for an nbgrader_config.py: a student has none, so nbgrader's defaults apply), with a
random free port, a random token, no browser, and settings, workspaces and runtime files kept in the temp folder.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

# JupyterLab user settings for the test: every cell stays in the page (no windowing, so a cell far down can be
# clicked and read), and no news/update toast covers the notebook in the screenshots.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LabServer:
    root: Path
    port: int
    token: str
    process: subprocess.Popen
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}/{path.lstrip('/')}{sep}token={self.token}"

    def api(self, method: str, path: str, timeout: float = 10.0):
        request = urllib.request.Request(f"{self.base_url}/{path.lstrip('/')}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"

    def shutdown_kernels(self) -> None:
        """Shut down every running kernel through the REST API (frees the 2 CPU cores for the next notebook)."""
        try:
            for kernel in self.api("GET", "api/kernels"):
                self.api("DELETE", f"api/kernels/{kernel['id']}", timeout=20)
        except (OSError, urllib.error.URLError, ValueError):
            pass


def _server_env(root: Path, config_dir: Path | None = None) -> dict:
    env = dict(os.environ)
    # The kernel must draw inline figures as a student's does (tests/conftest.py sets Agg for in-process tests),
    # and nothing of the grading set-up may leak into the student's session.
    for name in ("MPLBACKEND", "NBGRADER_EXECUTION", "NBGRADER_VALIDATING", "JUPYTER_TOKEN"):
        env.pop(name, None)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")  # nbgrader shells out to alembic
    # No user config from ~/.jupyter; config_dir: the student's, as `make lab` makes it (tests/test_student_lab.py)
    env["JUPYTER_CONFIG_DIR"] = str(config_dir or root.parent / "jupyter-config")
    env["JUPYTER_RUNTIME_DIR"] = str(root.parent / "jupyter-runtime")
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["IPYTHONDIR"] = str(root.parent / "ipython")
    return env


def start_lab(root: Path, log_path: Path, startup_timeout: float = 90.0, config_dir: Path | None = None) -> LabServer:
    settings_dir = root.parent / "lab-settings"
    for name, values in LAB_SETTINGS.items():
        path = settings_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    (root.parent / "lab-workspaces").mkdir(exist_ok=True)
    port, token = free_port(), secrets.token_hex(16)
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        "--port-retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={settings_dir}", f"--LabApp.workspaces_dir={root.parent / 'lab-workspaces'}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--ServerApp.shutdown_no_activity_timeout=900",  # a leaked server ends itself
        "--ServerApp.allow_root=True",  # CI containers run as root
    ]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "wb")
    process = subprocess.Popen(command, cwd=root, env=_server_env(root, config_dir), stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    server = LabServer(root=root, port=port, token=token, process=process, log_path=log_path)
    deadline = time.monotonic() + startup_timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {process.returncode}:\n{server.log_tail()}")
        try:
            server.api("GET", "api/status", timeout=2)
            return server
        except (OSError, urllib.error.URLError):
            if time.monotonic() > deadline:
                stop_lab(server)
                raise RuntimeError(f"JupyterLab did not answer within {startup_timeout:.0f} s:\n"
                                   f"{server.log_tail()}")
            time.sleep(0.5)


def stop_lab(server: LabServer, grace: float = 15.0) -> None:
    """Shut kernels down, SIGTERM the server's process group, SIGKILL it if it is still there after `grace` s."""
    # Kernels run in sessions of their own (jupyter_client starts them with start_new_session), so the process
    # group does not hold them: note the server's descendants now and end any the server leaves behind.
    descendants = _descendants(server.process.pid)
    if server.process.poll() is None:
        server.shutdown_kernels()
    try:
        os.killpg(server.process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        server.process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(server.process.pid, signal.SIGKILL)  # whatever is left of the group (the server, stray children)
    except ProcessLookupError:
        pass
    server.process.wait(timeout=10)
    for child in descendants:
        try:
            child.kill()
        except Exception:  # psutil.NoSuchProcess: it already ended
            pass


def _descendants(pid: int) -> list:
    try:
        import psutil  # installed with jupyter_server's dependencies
        return psutil.Process(pid).children(recursive=True)
    except Exception:
        return []
