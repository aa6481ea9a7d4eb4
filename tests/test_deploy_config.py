"""deploy/jupyterhub/ without a hub (tests/test_hub.py runs the real one, as root): the hub's configuration gives
students and the instructor what its README says, and the system-wide nbgrader settings name the course and carry
the release's Validate settings."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from traitlets.config.loader import PyFileConfigLoader

from autograder.course import Course
from autograder.paths import ASSIGNMENT, REPO

DEPLOY = REPO / "deploy" / "jupyterhub"


def hub_config(tmp_path: Path):
    """jupyterhub_config.py as install.sh leaves it in HUB/etc, read as JupyterHub reads it."""
    etc = tmp_path / "hub" / "etc"
    etc.mkdir(parents=True)
    shutil.copy(DEPLOY / "jupyterhub_config.py", etc)
    course = {"instructor": "teacher", "students_group": "class", "course_root": "/home/teacher/course"}
    (etc / "course.json").write_text(json.dumps(course))
    return PyFileConfigLoader("jupyterhub_config.py", path=str(etc)).load_config(), tmp_path / "hub"


def spawner(name: str):
    return SimpleNamespace(user=SimpleNamespace(name=name), cmd=None, notebook_dir=None)


def test_students_and_the_instructor_get_their_own_environment_and_extensions(tmp_path):
    config, hub = hub_config(tmp_path)
    assert config.JupyterHub.spawner_class.endswith("LocalProcessSpawner")
    assert config.PAMAuthenticator.allowed_groups == {"class"} and config.Authenticator.admin_users == {"teacher"}
    environment = config.Spawner.environment
    student, teacher = spawner("ana"), spawner("teacher")
    # Students: the instructor's extensions turned off first, then everyone's nbgrader_config.py.
    assert environment["JUPYTER_CONFIG_PATH"](student).split(":") == [f"{hub}/etc/jupyter-student", f"{hub}/etc/jupyter"]
    assert environment["JUPYTER_CONFIG_PATH"](teacher).split(":") == [f"{hub}/etc/jupyter"]
    assert environment["PATH"](student).startswith(f"{hub}/venv/bin:")
    assert environment["PATH"](teacher).startswith("/home/teacher/course/.venv/bin:")
    config.Spawner.pre_spawn_hook(student)
    config.Spawner.pre_spawn_hook(teacher)
    assert student.cmd == [f"{hub}/venv/bin/jupyterhub-singleuser"] and student.notebook_dir is None
    assert teacher.cmd == ["/home/teacher/course/.venv/bin/jupyterhub-singleuser"]
    assert teacher.notebook_dir == "/home/teacher/course"  # where Formgrader reads the course's configuration


def test_the_hub_names_the_course_and_validates_as_grading_does(tmp_path):
    """The system-wide settings as install.sh assembles them: the same course id as the course's own
    nbgrader_config.py (else students see no assignment), and the release's Validate settings. Reading them changes
    nothing in nbgrader (it is read by every student's server, and by the instructor's nbgrader commands): checked in
    a fresh process, as a server reads it."""
    text = (DEPLOY / "install.sh").read_text()
    assert 'cat "$here/nbgrader_config.py"' in text and 'cat "$repo/release/transformer_block/nbgrader_config.py"' in text
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "nbgrader_config.py").write_text(
        'c = get_config()\nc.Exchange.root = "/srv/nbgrader/exchange"\n'
        + (DEPLOY / "nbgrader_config.py").read_text() + "\n"
        + (REPO / "release" / ASSIGNMENT / "nbgrader_config.py").read_text())
    script = (
        "import json, sys\n"
        "from nbgrader.preprocessors import Execute, IgnorePattern\n"
        "from nbgrader.validator import Validator\n"
        "from traitlets.config.loader import PyFileConfigLoader\n"
        "before = {cls.__name__: dict(vars(cls)) for cls in (Execute, IgnorePattern, Validator)}\n"
        "config = PyFileConfigLoader('nbgrader_config.py', path=sys.argv[1]).load_config()\n"
        "after = {cls.__name__: dict(vars(cls)) for cls in (Execute, IgnorePattern, Validator)}\n"
        "print(json.dumps({'changed': [name for name in before if before[name] != after[name]],\n"
        "                  'course_id': config.CourseDirectory.course_id, 'exchange': config.Exchange.root,\n"
        "                  'timeout': config.Execute.timeout}))\n")
    result = subprocess.run([sys.executable, "-c", script, str(etc)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    read = json.loads(result.stdout.splitlines()[-1])
    assert read["changed"] == [], f"reading the hub's nbgrader_config.py changed nbgrader's {read['changed']}"
    assert read["course_id"] == Course.load(REPO).course_id
    assert read["exchange"] == "/srv/nbgrader/exchange"
    assert read["timeout"] == Course.load(REPO).config.SandboxedExecute.timeout


def test_the_proxy_is_pinned_for_npm_ci():
    lock = json.loads((DEPLOY / "package-lock.json").read_text())
    wanted = json.loads((DEPLOY / "package.json").read_text())["dependencies"]["configurable-http-proxy"]
    assert lock["packages"]["node_modules/configurable-http-proxy"]["version"] == wanted
