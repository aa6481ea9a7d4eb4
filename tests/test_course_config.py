"""`lab` reads a course's configuration as nbgrader does: the Jupyter config path (where a hub puts its settings, and
the user's own), then the course's nbgrader_config.py, then the command line. So `lab autograde` and
`nbgrader autograde` agree on the course id, the root and the gradebook."""
import json
import subprocess
import sys

import pytest

from autograder import cli
from autograder.course import Course, NotACourse, course_config
from autograder.jail import unsandboxed_config

# What nbgrader's own application sees, run in the course's folder: NbGrader.initialize is what every nbgrader
# command (autograde, generate_assignment, Formgrader's ...) runs first.
NBGRADER_SEES = """
import json
from nbgrader.apps.baseapp import NbGrader
app = NbGrader()
app.initialize([])
print(json.dumps({"root": app.coursedir.root, "course_id": app.coursedir.course_id, "db_url": app.coursedir.db_url,
                  "timeout": app.config.SandboxedExecute.get("timeout"),
                  "cpu_seconds": app.config.SandboxedExecute.get("cpu_seconds")}))
"""


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A course whose own config leaves the course id and gradebook to the machine; a system-wide Jupyter config
    folder (JUPYTER_CONFIG_PATH, as /etc/jupyter on a hub) that sets them, and a user's (JUPYTER_CONFIG_DIR) that
    sets one setting of both and another of its own."""
    course, system, user = tmp_path / "course", tmp_path / "etc-jupyter", tmp_path / "user-jupyter"
    for folder in (course, system, user):
        folder.mkdir()
    (system / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'set-by-the-hub'\n"
        f"c.CourseDirectory.db_url = 'sqlite:///{tmp_path}/hub-gradebook.db'\n"
        "c.SandboxedExecute.timeout = 30\n")
    (user / "nbgrader_config.py").write_text(
        "c = get_config()\nc.SandboxedExecute.timeout = 45\nc.SandboxedExecute.cpu_seconds = 99\n")
    (course / "nbgrader_config.py").write_text("c = get_config()\nc.SandboxedExecute.memory_mb = 2048\n")
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(system))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(user))
    monkeypatch.chdir(tmp_path)  # elsewhere: --course names the course
    return course, tmp_path


def nbgrader_sees(course, env=None) -> dict:
    result = subprocess.run([sys.executable, "-c", NBGRADER_SEES], cwd=course, capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_lab_reads_the_hub_and_user_config_as_nbgrader_does(hub):
    course_root, tmp_path = hub
    course = Course.load(course_root)
    seen = nbgrader_sees(course_root)
    assert seen["course_id"] == course.course_id == "set-by-the-hub"
    assert seen["db_url"] == course.db_url == f"sqlite:///{tmp_path}/hub-gradebook.db"
    assert seen["root"] == str(course.root) == str(course_root.resolve())
    # both files are read, in the same order (JUPYTER_CONFIG_PATH's folders come first: `jupyter --paths`)
    assert seen["timeout"] == course.config.SandboxedExecute.timeout == 30
    assert seen["cpu_seconds"] == course.config.SandboxedExecute.cpu_seconds == 99
    assert course.config.SandboxedExecute.memory_mb == 2048  # and the course's own file is read too


def test_the_course_config_overrides_the_machine_and_the_command_line_overrides_both(hub):
    course_root, _ = hub
    with (course_root / "nbgrader_config.py").open("a") as f:
        f.write("c.CourseDirectory.course_id = 'set-by-the-course'\nc.Jail.unsandboxed = False\n")
    course = Course.load(course_root, overrides=unsandboxed_config())
    assert course.course_id == nbgrader_sees(course_root)["course_id"] == "set-by-the-course"
    assert course.config.Jail.unsandboxed is True and course.overrides == unsandboxed_config()
    # what the build writes for students depends on the course's own file alone, not on this machine
    assert "course_id" in course_config(course_root).CourseDirectory
    assert "timeout" not in course_config(course_root).SandboxedExecute


def test_every_course_command_takes_a_course_and_defaults_to_the_current_directory(tmp_path, monkeypatch):
    """The course commands act on the current directory unless --course names one; `lab grade` (the bundled
    example class) says in its help what it uses instead."""
    parser = cli.parser()
    commands = parser._subparsers._group_actions[0].choices
    for name in ("autograde", "report", "missing"):
        args = parser.parse_args([name])
        assert args.course is None, name  # Course.load(None): the current directory
        assert "current directory" in commands[name].format_help(), name
        assert parser.parse_args([name, "--course", str(tmp_path)]).course == tmp_path
    assert "else this repository" in " ".join(commands["grade"].format_help().split())
    monkeypatch.chdir(tmp_path)  # not a course: the command says so, with the way to name one
    assert cli.main(["report"]) == cli.EXIT_SETUP
    with pytest.raises(NotACourse, match="--course DIR"):
        Course.load()
