#!/usr/bin/env bash
# Install this course's JupyterHub on one machine (README.md beside this file). Run as root, in a clone of the
# repository; what it makes:
#   HUB/venv                      the hub's and the students' Python environment: requirements.txt at the versions of
#                                 requirements.lock, WITHOUT this repository's packages (`autograder`, `lab`: the checks)
#   HUB/node_modules              configurable-http-proxy (npm ci, package-lock.json)
#   HUB/etc/jupyterhub_config.py  the hub (a copy of jupyterhub_config.py) and etc/course.json (its course)
#   HUB/etc/jupyter/              everyone's nbgrader_config.py: exchange, course id, Validate as grading
#   HUB/etc/jupyter-student/      students only: nbgrader's instructor extensions turned off and locked
#   HUB/state/                    root only: the hub's database and cookie secret
#   EXCHANGE                      nbgrader's exchange folder, writable by everyone (mode 1777)
# Options (all optional):
#   --hub DIR            default /opt/course-hub
#   --exchange DIR       default /srv/nbgrader/exchange
#   --instructor USER    default instructor (its course root: ~USER/transformer-block-lab, or --course-root)
#   --course-root DIR    the instructor's clone of this repository (with its .venv from `make setup`)
#   --students GROUP     the Unix group of the students, default transformer-block
#   --venv DIR           use this existing environment as HUB/venv instead of making one (tests/hub/ does, to
#                        save the 3 min of installing; the repository's .venv also has `autograder` and `lab`, so students'
#                        kernels could import the hidden checks: never do this for a real class)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
here="$repo/deploy/jupyterhub"
hub=/opt/course-hub exchange=/srv/nbgrader/exchange instructor=instructor course_root="" students=transformer-block
venv=""
while [ $# -gt 0 ]; do
  case "$1" in
    --hub) hub=$2; shift 2;;
    --exchange) exchange=$2; shift 2;;
    --instructor) instructor=$2; shift 2;;
    --course-root) course_root=$2; shift 2;;
    --students) students=$2; shift 2;;
    --venv) venv=$2; shift 2;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0;;
    *) echo "install.sh: unknown option $1 (see the comment at the top of $0)" >&2; exit 2;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root (the hub switches to each user's Unix account)" >&2; exit 1; }
[ -n "$course_root" ] || course_root=$(getent passwd "$instructor" | cut -d: -f6)/transformer-block-lab
command -v npm >/dev/null || { echo "install.sh: needs node and npm (Debian: apt-get install nodejs npm)" >&2; exit 1; }

umask 022
mkdir -p "$hub/etc" "$hub/state"
chmod 755 "$hub" "$hub/etc"
chmod 700 "$hub/state"

# The Python environment of the hub and of the students' servers.
if [ -n "$venv" ]; then
  ln -sfn "$(cd "$venv" && pwd)" "$hub/venv"
elif [ ! -x "$hub/venv/bin/jupyterhub-singleuser" ]; then
  bash "$repo/.ci/check-python" "${PYTHON:-python3}"
  "${PYTHON:-python3}" -m venv "$hub/venv"
  "$hub/venv/bin/python" -m pip install -q --upgrade pip
  "$hub/venv/bin/python" -m pip install -q -r "$repo/requirements.txt" -c "$repo/requirements.lock"
fi

# The proxy, at the locked version.
cp "$here/package.json" "$here/package-lock.json" "$hub/"
npm ci --prefix "$hub" --omit=dev --no-audit --no-fund --loglevel=error

# The hub's configuration and the course it serves.
cp "$here/jupyterhub_config.py" "$hub/etc/jupyterhub_config.py"
printf '{"instructor": "%s", "students_group": "%s", "course_root": "%s"}\n' \
  "$instructor" "$students" "$course_root" > "$hub/etc/course.json"

# Everyone's nbgrader settings: the exchange, the course, and grading's time limit for Validate (the release's file).
mkdir -p "$hub/etc/jupyter"
{
  echo "# Written by deploy/jupyterhub/install.sh: the exchange, then deploy/jupyterhub/nbgrader_config.py, then"
  echo "# release/transformer_block/nbgrader_config.py (Validate's time limit is grading's). Re-run install.sh to update."
  echo "c = get_config()  # noqa: F821"
  echo "c.Exchange.root = \"$exchange\""
  echo
  cat "$here/nbgrader_config.py"
  echo
  cat "$repo/release/transformer_block/nbgrader_config.py"
} > "$hub/etc/jupyter/nbgrader_config.py"

# Students: without the instructor's Create Assignment panel, Formgrader and course list (as `make lab` does), in
# a config folder that comes before the environment's own on their servers' JUPYTER_CONFIG_PATH.
student_cfg="$hub/etc/jupyter-student"
rm -rf "$student_cfg"
mkdir -p "$student_cfg"
# What `jupyter labextension disable` and `lock` write there (written directly: the two commands take a minute on a
# busy 2-core machine).
mkdir -p "$student_cfg/labconfig"
plugins='"@jupyter/nbgrader:create-assignment": true, "@jupyter/nbgrader:formgrader": true,'
plugins+=' "@jupyter/nbgrader:course-list": true'
printf '{"disabledExtensions": {%s},\n "lockedExtensions": {%s}}\n' "$plugins" "$plugins" \
  > "$student_cfg/labconfig/page_config.json"
printf '%s\n' '{"ServerApp": {"jpserver_extensions": {' \
  '  "nbgrader.server_extensions.formgrader": false, "nbgrader.server_extensions.course_list": false}}}' \
  > "$student_cfg/jupyter_server_config.json"
chmod -R a+rX "$hub/etc" "$hub/node_modules"

# nbgrader's exchange: everyone writes there (nbgrader requires rwx for all; the sticky bit keeps users from
# removing each other's folders). Within it nbgrader makes inbound/ write-only for students and feedback/ unlistable.
mkdir -p "$exchange"
chmod 1777 "$exchange"

echo "installed the hub in $hub (exchange $exchange, instructor $instructor, students: group $students)."
echo "start it as root: cd $hub/state && $hub/venv/bin/jupyterhub -f $hub/etc/jupyterhub_config.py"
