"""What decides that a grade, a worker or a built notebook is out of date (autograder/digests.py)."""
from autograder import autograde, digests
from autograder.digests import ROOT, digest_files, grading_code_files


def test_grading_code_is_every_module_that_can_change_a_grade_and_not_the_variants():
    files = {p.relative_to(ROOT).as_posix() for p in grading_code_files()}
    for folder in ("lab/checks", "lab/judges", "lab/provided", "autograder/jail", "autograder/nbgrader_ext"):
        modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / folder).glob("*.py")}
        assert modules and modules <= files, f"{folder}/ is not all grading code: {sorted(modules - files)}"
    assert {f"autograder/{name}" for name in ("protocol.py", "probing.py", "judging.py", "grading.py")} <= files
    assert not [f for f in files if "variants/" in f], "answer variants are test data, not grading code"


def test_a_file_digest_changes_with_content_name_and_absence(tmp_path):
    a = tmp_path / "a.py"
    a.write_text("x = 1\n")
    first = digest_files([a], tmp_path)
    assert digest_files([a], tmp_path) == first
    a.write_text("x = 2\n")
    assert digest_files([a], tmp_path) != first
    second = digest_files([a], tmp_path)
    a.rename(tmp_path / "b.py")
    assert digest_files([tmp_path / "b.py"], tmp_path) != second
    assert digest_files([a], tmp_path) != digest_files([], tmp_path), "a missing file must count"
    assert digest_files([tmp_path / "b.py"], tmp_path, salt="other code") != digest_files([tmp_path / "b.py"], tmp_path)


def test_a_change_of_grading_code_regrades_everyone(tmp_path, monkeypatch):
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    before = autograde.grading_inputs_digest(tmp_path, "a1")
    monkeypatch.setattr(autograde, "grading_code_digest", lambda: "a judge was fixed")
    assert autograde.grading_inputs_digest(tmp_path, "a1") != before
    assert digests.grading_code_digest() == digests.grading_code_digest()  # stable within a run


def test_a_setting_from_the_jupyter_config_path_regrades_everyone(tmp_path, monkeypatch):
    """nbgrader reads the Jupyter config path too (a hub's /etc/jupyter): a grading setting there changes grades as
    one in the course's own nbgrader_config.py does, so it regrades everyone; so does grading without the jail."""
    (tmp_path / "course").mkdir()
    (tmp_path / "course" / "nbgrader_config.py").write_text("c = get_config()\n")
    system = tmp_path / "etc-jupyter"
    system.mkdir()
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(system))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "user-jupyter"))
    before = autograde.grading_inputs_digest(tmp_path / "course", "a1")
    assert autograde.grading_inputs_digest(tmp_path / "course", "a1") == before  # stable
    assert autograde.grading_inputs_digest(tmp_path / "course", "a1", jail_state="unsandboxed") != before
    (system / "nbgrader_config.py").write_text("c = get_config()\nc.Execute.timeout = 7\n")
    assert autograde.grading_inputs_digest(tmp_path / "course", "a1") != before
