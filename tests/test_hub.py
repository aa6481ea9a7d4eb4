"""The course on a real JupyterHub, end to end: deploy/jupyterhub/ installed as its README says, the hub started on
127.0.0.1 as root, an instructor and two students as Unix users, the students in headless Chromium.

1. the instructor releases the assignment through nbgrader's exchange (`nbgrader release_assignment`);
2. two students log in (PAM, their Unix passwords), fetch the assignment in the Assignments tab and answer 03_rmsnorm
   in the notebook: one right (the reference), one with a mistake (LayerNorm instead of RMSNorm, a variant of the
   example class); each presses Validate, whose verdict is grading's, and submits: the right one submits twice (once
   untouched, then answered), and the exchange keeps the last;
3. the instructor collects, grades with `lab autograde` in the jail, generates and releases feedback, exports grades;
4. each student fetches the feedback and reads their per-check messages, and nothing of the other student or of
   the hidden tests; grades.csv has the example class's golden scores for the same answers.

Needs root (it makes Unix users and runs the hub), node and npm, Chromium and Playwright, Debian's python3 (the
users' servers run a Python every user can execute), the grading jail. Skipped with the reason where one is missing,
failing in CI (`require`). Screenshots and logs: test-artifacts/hub/. Marked `hub` and `slow` (tests/conftest.py).
"""
from __future__ import annotations

import csv
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from autograder.build import build_release
from autograder.course import copy_course
from autograder.example_class import load_class
from autograder.notebook_text import reference_answers
from autograder.paths import ASSIGNMENT, RELEASE, REPO, VARIANTS
from conftest import require

ARTIFACTS = REPO / "test-artifacts" / "hub"
DEPLOY = REPO / "deploy" / "jupyterhub"
NOTEBOOK = "03_rmsnorm"  # the one the students answer (the others are submitted as released: 0 points each)
ANSWER_CELL = "rmsnorm_impl"
MISTAKE = "rmsnorm/wrong/layernorm"  # a mistake the visible tests catch: Validate fails, as grading does
# Unix accounts made (and removed) by the test; prefixed so that no real account is touched.
INSTRUCTOR, RIGHT, WRONG, GROUP = "hubt-instructor", "hubt-ana", "hubt-ben", "hubt-students"
USER_PYTHON = os.environ.get("HUB_USER_PYTHON", "/usr/bin/python3")


# ----------------------------------------------------------------------------------------------- requirements


def missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (it makes Unix users, and the hub switches to them)"
    for tool, install in (("node", "apt-get install nodejs"), ("npm", "apt-get install npm"),
                          ("useradd", "passwd"), ("runuser", "util-linux"), ("chpasswd", "passwd")):
        if shutil.which(tool) is None:
            return f"needs {tool} ({install})"
    from browser.browser_env import missing_requirement  # tests/browser: Chromium and Playwright

    problem = missing_requirement()
    if problem:
        return problem
    if not Path(USER_PYTHON).is_file():
        return f"needs Debian's python3 at {USER_PYTHON} (apt-get install python3 python3-venv)"
    minor = subprocess.run([USER_PYTHON, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                           text=True).stdout.strip()
    if minor != str(tuple(sys.version_info[:2])):
        return f"{USER_PYTHON} is Python {minor}, the course's environment {tuple(sys.version_info[:2])}"
    return None


# ----------------------------------------------------------------------------------------------- helpers


def sh(*cmd, timeout: float = 300, check: bool = True, **kw) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kw)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {result.returncode}:\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def as_user(user: str, *cmd, env: dict | None = None, cwd: Path | None = None, check: bool = True,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """A command as that Unix user, with a clean environment (what a login shell on the hub would have)."""
    home = Path(f"/home/{user}")
    base = {"HOME": str(home), "USER": user, "LOGNAME": user, "LANG": "C.UTF-8", "PATH": "/usr/bin:/bin"}
    assignments = [f"{k}={v}" for k, v in {**base, **(env or {})}.items()]
    return sh("runuser", "-u", user, "--", "env", "-i", *assignments, *cmd, cwd=cwd or home, check=check,
              timeout=timeout)


ENVIRONMENTS = REPO / "build" / "hub-environments"  # made once per .venv (ignored by git)


def user_environment(name: str, with_autograder: bool) -> Path:
    """An environment every user can run: the course's installed packages (REPO/.venv's site-packages, hard-linked)
    under Debian's python3 (REPO/.venv's own interpreter may sit where other users cannot read, e.g. pyenv under
    /root). A real venv, as the jail binds sys.prefix and the packages must be inside it. Without `autograder`, the
    repository's editable install (the students' and the hub's, as install.sh makes it), or with it (the
    instructor's course environment, as `make setup` makes it). Made once for each state of REPO/.venv (a minute
    of disk work under load), then reused."""
    source = Path(sys.prefix)
    marker = source / ".installed" if (source / ".installed").exists() else source / "pyvenv.cfg"
    key = f"{source} {marker.stat().st_mtime_ns} {USER_PYTHON} {with_autograder}\n"
    venv = ENVIRONMENTS / name
    if (venv / ".made-from").is_file() and (venv / ".made-from").read_text() == key:
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    lib = f"python{sys.version_info.major}.{sys.version_info.minor}"
    (venv / "lib").mkdir(parents=True)
    if sh("cp", "-al", source / "lib" / lib, venv / "lib" / lib, check=False).returncode != 0:
        shutil.rmtree(venv / "lib" / lib, ignore_errors=True)
        sh("cp", "-a", source / "lib" / lib, venv / "lib" / lib)  # another file system: a copy
    site = venv / "lib" / lib / "site-packages"
    if not with_autograder:
        for path in site.glob("*transformer_block_lab*"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    (venv / "bin").mkdir()
    for name in ("python", "python3", lib):
        (venv / "bin" / name).symlink_to(USER_PYTHON)
    (venv / "pyvenv.cfg").write_text(f"home = {Path(USER_PYTHON).parent}\ninclude-system-site-packages = false\n")
    for folder in ("share", "etc"):  # Jupyter's data (JupyterLab, nbgrader's extensions) and server config
        (venv / folder).symlink_to(source / folder)
    for script in (source / "bin").iterdir():  # console scripts, with this environment's interpreter
        target = venv / "bin" / script.name
        if target.exists() or target.is_symlink() or not script.is_file():
            continue
        try:
            text = script.read_text()
        except UnicodeDecodeError:
            continue
        first, _, rest = text.partition("\n")
        if first.startswith("#!") and "python" in first:
            target.write_text(f"#!{venv / 'bin' / 'python'}\n{rest}")
            target.chmod(0o755)
    for folder in (ENVIRONMENTS.parent, ENVIRONMENTS):  # every user may enter them
        folder.chmod(folder.stat().st_mode | 0o055)
    (venv / ".made-from").write_text(key)
    return venv


def make_user(name: str, group: str | None = None) -> str:
    remove_user(name)
    sh("useradd", "--create-home", "--shell", "/bin/bash", *(["--groups", group] if group else []), name)
    password = secrets.token_urlsafe(12)
    sh("chpasswd", input=f"{name}:{password}\n")
    return password


def remove_user(name: str) -> None:
    import psutil

    uid = sh("id", "-u", name, check=False).stdout.strip()
    if uid:
        for process in psutil.process_iter(["uids"]):  # whatever the test started as that user
            try:
                if process.info["uids"] and process.info["uids"].real == int(uid):
                    process.kill()
            except psutil.Error:
                pass
        sh("userdel", "--remove", name, check=False)


def free_port() -> int:
    from browser.lab_server import free_port as port

    return port()


class Shots:
    """Numbered screenshots of the whole scenario, and the seconds each step took."""

    def __init__(self):
        self.count, self.started, self.last, self.seconds = 0, time.monotonic(), time.monotonic(), {}

    def step(self, name: str) -> None:
        now = time.monotonic()
        self.seconds[name] = round(now - self.last, 1)
        self.last = now
        (ARTIFACTS / "seconds.json").write_text(json.dumps(
            {**self.seconds, "total": round(now - self.started, 1)}, indent=1))

    def __call__(self, page, name: str) -> None:
        self.count += 1
        page.screenshot(path=str(ARTIFACTS / f"{self.count:02d}-{name}.png"))
        self.step(name)


# ----------------------------------------------------------------------------------------------- the hub


@pytest.fixture(scope="module")
def hub():
    problem = missing()
    require(problem is None, problem or "",
            "as root: `make system-packages` (bubblewrap, Chromium, python3-venv) and node/npm (apt-get install npm)")
    from conftest import require_jail

    require_jail()
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    (ARTIFACTS / ".gitignore").write_text("*\n")
    top = Path(tempfile.mkdtemp(prefix="course-hub-"))
    top.chmod(0o755)
    passwords = {}
    process = None
    setup: dict[str, float] = {}
    last = [time.monotonic()]

    def took(step: str) -> None:
        setup[f"setup-{step}"] = round(time.monotonic() - last[0], 1)
        last[0] = time.monotonic()

    try:
        sh("groupadd", "-f", GROUP)
        passwords = {INSTRUCTOR: make_user(INSTRUCTOR), RIGHT: make_user(RIGHT, GROUP),
                     WRONG: make_user(WRONG, GROUP)}
        # The instructor's course: a copy of this repository's course in their home, theirs alone (mode 700), with
        # the course environment (`make setup` would make it; here Debian's python3 over the installed packages).
        course = copy_course(Path(f"/home/{INSTRUCTOR}") / "transformer-block-lab")
        build_release(course)  # what `make build` leaves in a clone: the release, and the gradebook's hidden tests
        (course / ".venv").symlink_to(user_environment("instructor", with_autograder=True))
        sh("chown", "-R", f"{INSTRUCTOR}:{INSTRUCTOR}", course)
        Path(f"/home/{INSTRUCTOR}").chmod(0o700)
        took("users-and-course")
        # The hub, installed as deploy/jupyterhub/README.md says, with a ready environment (--venv).
        hub_dir, exchange = top / "hub", top / "exchange"
        students_env = user_environment("students", with_autograder=False)
        reached = as_user(RIGHT, students_env / "bin" / "python", "-c", "import jupyterhub", check=False)
        require(reached.returncode == 0, f"a user cannot run {students_env}/bin/python (every folder above the "
                f"repository must be open to other users: chmod o+x): {reached.stderr.strip()[-300:]}")
        took("environments")
        sh("bash", DEPLOY / "install.sh", "--hub", hub_dir, "--exchange", exchange, "--instructor", INSTRUCTOR,
           "--course-root", course, "--students", GROUP, "--venv", students_env, timeout=300)
        took("install")
        url = f"http://127.0.0.1:{free_port()}"
        log = open(ARTIFACTS / "jupyterhub.log", "wb")
        process = subprocess.Popen(
            [hub_dir / "venv" / "bin" / "jupyterhub", "-f", hub_dir / "etc" / "jupyterhub_config.py",
             f"--JupyterHub.bind_url={url}", f"--JupyterHub.hub_bind_url=http://127.0.0.1:{free_port()}",
             f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{free_port()}"],
            cwd=hub_dir / "state", stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, "PATH": "/usr/local/bin:/usr/bin:/bin"})
        log.close()  # the hub writes to its own copy
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (ARTIFACTS / "jupyterhub.log").read_text()[-4000:]
            try:
                urllib.request.urlopen(f"{url}/hub/api/", timeout=2).read()
                break
            except OSError:
                assert time.monotonic() < deadline, "the hub did not answer in 90 s"
                time.sleep(0.5)
        took("hub-start")
        yield {"setup": setup, "url": url, "course": course, "exchange": exchange, "hub_dir": hub_dir,
               "passwords": passwords}
    finally:
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # the hub stops the users' servers, then itself
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        for user in (INSTRUCTOR, RIGHT, WRONG):
            remove_user(user)
        sh("groupdel", GROUP, check=False)
        shutil.rmtree(top, ignore_errors=True)


def instructor(hub, *cmd, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    """A command in the instructor's course root, with what their server's terminal has (jupyterhub_config.py)."""
    course = hub["course"]
    env = {"PATH": f"{course / '.venv' / 'bin'}:/usr/local/bin:/usr/bin:/bin",
           "JUPYTER_CONFIG_PATH": str(hub["hub_dir"] / "etc" / "jupyter")}
    return as_user(INSTRUCTOR, *cmd, env=env, cwd=course, check=check, timeout=timeout)


# ----------------------------------------------------------------------------------------------- the browser


def log_in(context, hub, user: str):
    """The hub's login form, with the user's Unix password; the hub starts their server (not waited for here)."""
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{hub['url']}/hub/login", wait_until="domcontentloaded")
    page.fill("#username_input", user)
    page.fill("#password_input", hub["passwords"][user])
    page.click("#login_submit")
    return page


def wait_for_lab(page, user: str) -> None:
    page.wait_for_url(re.compile(rf"/user/{re.escape(user)}/lab"), timeout=150_000)  # spawn, then JupyterLab
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").wait_for(timeout=90_000)


def assignment_list(page):
    from browser.test_student_path import menu

    menu(page, "Nbgrader", "Assignment List")
    page.locator("#fetched_assignments_list").wait_for()


def row(page, listing: str, text: str = ASSIGNMENT):
    return page.locator(f"#{listing} .list_item", has_text=text).first


def submit(page) -> None:
    submitted = page.locator("#submitted_assignments_list .list_item")
    before = submitted.count()
    row(page, "fetched_assignments_list").get_by_role("button", name="Submit").click()
    page.wait_for_function(f"() => document.querySelectorAll('#submitted_assignments_list .list_item').length"
                           f" > {before}", timeout=60_000)


def open_notebook(page, hub, user: str):
    """The notebook in the student's JupyterLab, once its kernel is idle; its cells as the release has them."""
    from browser.test_student_path import cells, wait_kernel_idle

    page.goto(f"{hub['url']}/user/{user}/lab/tree/{ASSIGNMENT}/{NOTEBOOK}.ipynb", wait_until="domcontentloaded")
    release = nbformat.read(RELEASE / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    cells(page).nth(len(release.cells) - 1).wait_for(timeout=90_000)
    wait_kernel_idle(page)
    return release


def answer_and_press_validate(page, release, answers: dict[str, str]) -> None:
    """Type each solution cell's answer through the editor, save, press Validate (nbgrader runs the notebook)."""
    from browser.test_student_path import cells, save, type_into_cell

    for index, cell in enumerate(release.cells):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution"):
            type_into_cell(page, cells(page).nth(index), answers[grade_id], markdown=cell.cell_type == "markdown")
    save(page)
    page.locator(".jp-NotebookPanel:visible .validate-button").click()


def validation_verdict(page) -> str:
    dialog = page.locator(".jp-Dialog", has_text="Validation Results")
    dialog.wait_for(timeout=240_000)
    return dialog.locator(".jp-Dialog-body").inner_text()


def close_dialog(page) -> None:
    page.locator(".jp-Dialog .jp-Dialog-button", has_text="Ok").click()


# ----------------------------------------------------------------------------------------------- the test


def golden() -> dict[str, float]:
    """The example class's scores of the two answers: the reference, and the same mistake (class.toml)."""
    students = load_class()
    right = next(s for s in students if s.answers.get(NOTEBOOK) == "solution")
    wrong = next(s for s in students if s.answers.get(NOTEBOOK) == {ANSWER_CELL: MISTAKE})
    untouched = next(s for s in students if not s.answers)  # a notebook submitted as released
    others = sum(v for k, v in untouched.expected.items() if k != NOTEBOOK)
    return {RIGHT: right.expected[NOTEBOOK] + others, WRONG: wrong.expected[NOTEBOOK] + others}


def test_a_class_on_the_hub(hub):
    from playwright.sync_api import sync_playwright

    from browser.browser_env import CHROMIUM_ARGS, chromium_path

    shot = Shots()
    shot.seconds.update(hub["setup"])
    exchange_course = hub["exchange"] / "transformer-block-lab"

    # 1. The instructor releases the assignment (built by `make build` in their clone: the fixture did that).
    instructor(hub, "nbgrader", "release_assignment", ASSIGNMENT)
    assert (exchange_course / "outbound" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").is_file()
    assert not list((exchange_course / "outbound").rglob("*.py")), "a .py file was released"
    shot.step("instructor-released")

    reference = reference_answers(NOTEBOOK)
    answers = {RIGHT: reference,
               WRONG: {**reference, ANSWER_CELL: (VARIANTS / f"{MISTAKE}.py").read_text()}}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        contexts = {user: browser.new_context(viewport={"width": 1400, "height": 1000}) for user in (RIGHT, WRONG)}
        pages: dict = {}
        try:
            # 2. Both students log in (their servers start side by side); each fetches, answers and presses
            # Validate, then reads the verdict and submits (the two validations overlap, as in a real class).
            pages = {user: log_in(contexts[user], hub, user) for user in (RIGHT, WRONG)}
            for user in (RIGHT, WRONG):
                page = pages[user]
                wait_for_lab(page, user)
                shot(page, f"{user}-logged-in")
                page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
                offered = page.locator(".lm-Menu .lm-Menu-itemLabel").all_inner_texts()
                page.keyboard.press("Escape")
                assert "Assignment List" in offered and not {"Formgrader", "Create assignment"} & set(offered), \
                    f"a student's Nbgrader menu offers {offered}"
                assignment_list(page)
                row(page, "released_assignments_list").get_by_role("button", name="Fetch").click()
                row(page, "fetched_assignments_list").get_by_role("button", name="Submit").wait_for()
                shot(page, f"{user}-fetched")
                assert (Path(f"/home/{user}") / ASSIGNMENT / f"{NOTEBOOK}.ipynb").is_file()
                if user == RIGHT:  # submits at once, untouched: the later submission must be the one graded
                    submit(page)
                    shot(page, f"{user}-submitted-untouched")
                release = open_notebook(page, hub, user)
                answer_and_press_validate(page, release, answers[user])
            for user in (RIGHT, WRONG):
                page = pages[user]
                page.bring_to_front()
                verdict = validation_verdict(page)
                shot(page, f"{user}-validated")
                close_dialog(page)
                if user == RIGHT:
                    assert "Success! Your notebook passes all the tests." in verdict, verdict[:3000]
                else:  # the visible test of the values fails, as grading's checks do
                    assert "The following cell failed" in verdict and "AssertionError" in verdict, verdict[:3000]
                assignment_list(page)
                submit(page)
                shot(page, f"{user}-submitted")
            submissions = [p.name for p in (exchange_course / "inbound").iterdir()]
            assert sum(name.startswith(f"{RIGHT}+") for name in submissions) == 2, submissions
            assert sum(name.startswith(f"{WRONG}+") for name in submissions) == 1, submissions

            # 3. The instructor collects (the latest submission of each), grades in the jail, releases feedback.
            instructor(hub, "nbgrader", "collect", ASSIGNMENT)
            shot.step("instructor-collected")
            graded = instructor(hub, "lab", "autograde", timeout=900)
            assert "without the jail" not in graded.stdout + graded.stderr
            shot.step("instructor-autograded")
            instructor(hub, "nbgrader", "generate_feedback", ASSIGNMENT)
            instructor(hub, "nbgrader", "release_feedback", ASSIGNMENT)
            instructor(hub, "nbgrader", "export")
            shot.step("instructor-feedback-released")
            with open(hub["course"] / "grades.csv") as f:
                scores = {r["student_id"]: float(r["raw_score"]) for r in csv.DictReader(f)}
            expected = golden()
            assert scores == pytest.approx(expected, abs=0.01), f"grades.csv {scores}, golden {expected}"

            # 4. Each student fetches the feedback and reads it.
            feedback_text = {}
            for user in (RIGHT, WRONG):
                page = pages[user]
                page.goto(f"{hub['url']}/user/{user}/lab", wait_until="domcontentloaded")
                assignment_list(page)
                row(page, "submitted_assignments_list").get_by_role("button", name="Fetch Feedback").click()
                page.get_by_text("(view feedback)").first.wait_for(timeout=60_000)
                shot(page, f"{user}-feedback-fetched")
                found = sorted(Path(f"/home/{user}/{ASSIGNMENT}/feedback").glob(f"*/{NOTEBOOK}.html"))
                assert len(found) == 1, found
                relative = found[0].relative_to(Path(f"/home/{user}"))
                page.goto(f"{hub['url']}/user/{user}/files/{relative}", wait_until="load")
                check_line = page.get_by_text(re.compile(r"\[(FAIL|ok\s*)\]")).first
                check_line.wait_for(timeout=30_000)
                check_line.evaluate("line => line.scrollIntoView({block: 'center'})")  # the per-check messages
                shot(page, f"{user}-feedback")
                feedback_text[user] = page.locator("body").inner_text()
        except BaseException:
            for user, page in pages.items():  # what each student's page showed when it failed
                try:
                    page.screenshot(path=str(ARTIFACTS / f"FAILED-{user}.png"), timeout=10_000)
                except Exception:
                    pass
            raise
        finally:
            browser.close()

    for user, other in ((RIGHT, WRONG), (WRONG, RIGHT)):
        text = feedback_text[user]
        # per-check lines: the right answer passes them; a LayerNorm passes none of 03's (all are judged on values)
        assert re.search(r"\[(ok\s*|FAIL)\]", text), f"{user}'s feedback has no check line"
        assert other not in text and other not in json.dumps(sorted(p.name for p in Path(f"/home/{user}").rglob("*")))
        assert "BEGIN HIDDEN TESTS" not in text and "_checks" not in text, f"{user}'s feedback shows hidden tests"
    assert "[FAIL]" in feedback_text[WRONG] and "[FAIL]" not in feedback_text[RIGHT]
    assert re.search(r"\[ok\s*\]", feedback_text[RIGHT]), "the right answer's feedback has no passing check line"
    # Nothing of another student through the exchange or the instructor's course folder.
    assert as_user(WRONG, "ls", exchange_course / "feedback", check=False).returncode != 0
    assert as_user(WRONG, "ls", exchange_course / "inbound", check=False).returncode != 0
    assert as_user(WRONG, "cat", hub["course"] / "nbgrader_config.py", check=False).returncode != 0
    # The students' environment has neither `autograder` nor `lab` (the hidden checks, the judges): install.sh's
    # environment, as here.
    for package in ("autograder", "lab"):
        assert as_user(WRONG, hub["hub_dir"] / "venv" / "bin" / "python", "-c", f"import {package}",
                       check=False).returncode != 0, package
    print(json.dumps(shot.seconds))
