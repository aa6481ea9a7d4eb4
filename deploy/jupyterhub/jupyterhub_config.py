"""JupyterHub for one course on one machine: the Transformer Block lab, one instructor, its students.

Installed by deploy/jupyterhub/install.sh into the hub's folder (HUB below, e.g. /opt/course-hub) as
HUB/etc/jupyterhub_config.py, and started as root from there:

    cd /opt/course-hub/state && /opt/course-hub/venv/bin/jupyterhub -f /opt/course-hub/etc/jupyterhub_config.py

What it sets up (README.md beside this file says why):
- users are the machine's own Unix accounts, logged in with their passwords (PAM, JupyterHub's default): students are
  the members of one Unix group, the instructor one named account, which is also the hub's admin;
- each user's server runs AS THAT USER (LocalProcessSpawner: the hub, as root, switches to the user's uid), which is
  what nbgrader's exchange needs: it knows who submitted from the Unix user, and its folders' permissions keep one
  student's submission and feedback from another;
- students' servers run from the hub's environment (HUB/venv: the course's packages, without this repository's
  `autograder` and `lab` packages, so no kernel of theirs can import the hidden checks), with nbgrader's student extensions
  only (the Assignments tab and Validate);
- the instructor's server runs from the course's own environment (COURSE_ROOT/.venv, `make setup`), in the course
  root, with every nbgrader extension (Formgrader, Create Assignment, the course list);
- every server reads HUB/etc/jupyter/nbgrader_config.py: the exchange, the course id, and the settings that make
  Validate decide as grading does.
"""
import json
import os
from pathlib import Path

c = get_config()  # noqa: F821 (given by traitlets)

HUB = Path(__file__).resolve().parents[1]
# Written by install.sh: {"instructor": ..., "students_group": ..., "course_root": ...}
COURSE = json.loads((HUB / "etc" / "course.json").read_text())
INSTRUCTOR = COURSE["instructor"]
COURSE_ROOT = Path(COURSE["course_root"])
STATE = HUB / "state"  # root only: the hub's database, cookie secret and the proxy's pid file

# Where the hub listens (put a TLS-terminating reverse proxy in front of it, or set ssl_key/ssl_cert). The hub's
# API and the proxy's API stay on loopback; the ports are JupyterHub's defaults, overridable on the command line.
c.JupyterHub.bind_url = "http://:8000"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:8081"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:8001"
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")
# configurable-http-proxy from npm, installed by install.sh at the version in package-lock.json.
c.ConfigurableHTTPProxy.command = [str(HUB / "node_modules" / ".bin" / "configurable-http-proxy")]

# Who may log in: Unix accounts, by password (PAM). Students: the course's Unix group. The instructor: the admin.
c.JupyterHub.authenticator_class = "jupyterhub.auth.PAMAuthenticator"
c.PAMAuthenticator.allowed_groups = {COURSE["students_group"]}
c.Authenticator.admin_users = {INSTRUCTOR}
c.Authenticator.allowed_users = {INSTRUCTOR}  # the group's members are allowed too (allowed_groups)

# One process per user, as that Unix user, in their home folder.
c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120


def is_instructor(spawner) -> bool:
    return spawner.user.name == INSTRUCTOR


def config_path(spawner) -> str:
    """Jupyter's config path of a user's server (before the environment's own config, after ~/.jupyter): the
    course's nbgrader_config.py for everyone, and for students first the folder that turns the instructor's
    extensions off."""
    common = str(HUB / "etc" / "jupyter")
    return common if is_instructor(spawner) else os.pathsep.join([str(HUB / "etc" / "jupyter-student"), common])


def search_path(spawner) -> str:
    # nbgrader shells out to `alembic` (the gradebook's migrations): the environment's bin/ comes first.
    venv = COURSE_ROOT / ".venv" if is_instructor(spawner) else HUB / "venv"
    return os.pathsep.join([str(venv / "bin"), "/usr/local/bin", "/usr/bin", "/bin"])


c.Spawner.environment = {"JUPYTER_CONFIG_PATH": config_path, "PATH": search_path}


def pre_spawn_hook(spawner):
    if is_instructor(spawner):
        # The course's environment (it has this repository's `autograder` and `lab`, which grading and the feedback need) and
        # the course root, where Formgrader and nbgrader's commands read the course's nbgrader_config.py.
        spawner.cmd = [str(COURSE_ROOT / ".venv" / "bin" / "jupyterhub-singleuser")]
        spawner.notebook_dir = str(COURSE_ROOT)
    else:
        spawner.cmd = [str(HUB / "venv" / "bin" / "jupyterhub-singleuser")]


c.Spawner.pre_spawn_hook = pre_spawn_hook
