"""`make lab` is the student's JupyterLab: nbgrader's instructor extensions (Create Assignment, Formgrader, the
course list) are off there and locked, Validate stays; the environment's own config (what `make formgrader` runs
with) keeps them all. Both servers are started as the commands start them, headless."""
import re
import subprocess
import urllib.error
import urllib.request

import pytest
from browser.lab_server import start_lab, stop_lab

from autograder.paths import REPO

INSTRUCTOR_PLUGINS = {"@jupyter/nbgrader:create-assignment", "@jupyter/nbgrader:formgrader",
                      "@jupyter/nbgrader:course-list"}


def status(server, path: str, method: str = "GET") -> int:
    request = urllib.request.Request(server.url(path), method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def disabled_plugins(server) -> set[str]:
    with urllib.request.urlopen(server.url("lab"), timeout=30) as response:
        page = response.read().decode()
    found = re.search(r'"disabledExtensions": (\[[^\]]*\])', page)
    return set(re.findall(r'"([^"]+)"', found.group(1))) if found else set()


@pytest.fixture
def lab(tmp_path):
    """Start JupyterLab on a student folder; `config` names the Jupyter config dir (None: the environment's)."""
    servers = []

    def start(config):
        home = tmp_path / f"lab{len(servers)}" / "home"
        home.mkdir(parents=True)
        server = start_lab(home, tmp_path / f"lab{len(servers)}.log", config_dir=config)
        servers.append(server)
        return server

    yield start
    for server in servers:
        stop_lab(server)


def test_the_student_lab_has_no_instructor_extensions_and_formgrader_keeps_them(tmp_path, lab):
    config = tmp_path / "student-jupyter"
    made = subprocess.run(["make", "-s", f"STUDENT_JUPYTER={config}", f"{config}/.configured"], cwd=REPO,
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stdout + made.stderr

    student = lab(config)
    assert INSTRUCTOR_PLUGINS <= disabled_plugins(student)
    assert student.api("GET", "lab/api/plugins")["lockRules"], "a student could turn them back on in Settings"
    assert status(student, "formgrader") == 404
    assert status(student, "formgraders") == 404  # the course list's server side
    assert status(student, "assignments/validate") != 404  # the Validate button's handler is still there

    instructor = lab(None)
    assert not INSTRUCTOR_PLUGINS & disabled_plugins(instructor)
    assert status(instructor, "formgrader") == 200
