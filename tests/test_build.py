"""Every derived file is what the build makes from its source (nbdev-style: regenerate, then compare)."""
import json

import nbformat
import pytest

from autograder import student_config
from autograder.build import build_release, build_solutions
from autograder.notebook_text import NotebookSourceError, build_notebook
from autograder.paths import ASSIGNMENT, LESSONS, RELEASE, REPO, SOLUTIONS, SOURCE, assignment_notebook_names

NOTEBOOKS = assignment_notebook_names()


def without_outputs(nb: nbformat.NotebookNode) -> dict:
    """A notebook minus what execution writes (outputs, counts, the kernel's language_info): nbval compares
    the outputs separately."""
    data = json.loads(json.dumps(nb))
    data["metadata"].pop("language_info", None)
    for cell in data["cells"]:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
    return data


def test_every_assignment_notebook_is_released_and_solved():
    assert NOTEBOOKS, "no text sources in source/transformer_block"
    assert sorted(p.stem for p in (RELEASE / ASSIGNMENT).glob("*.ipynb")) == NOTEBOOKS
    assert sorted(p.stem for p in (SOLUTIONS / ASSIGNMENT).glob("*.ipynb")) == NOTEBOOKS


def test_release_is_regenerated_identically(course_copy):
    """release/ is byte-for-byte what the build (nbgrader generate_assignment, then the students' config) makes
    from source/ now."""
    build_release(course_copy)
    for name in [f"{name}.ipynb" for name in NOTEBOOKS] + [student_config.FILE_NAME]:
        fresh = (course_copy / "release" / ASSIGNMENT / name).read_text()
        committed = (RELEASE / ASSIGNMENT / name).read_text()
        assert fresh == committed, f"release/{ASSIGNMENT}/{name} is stale: run `make build` and commit"


def test_release_holds_only_notebooks_and_the_students_config():
    files = [p for p in (RELEASE / ASSIGNMENT).rglob("*") if p.is_file()]
    others = [p.name for p in files if p.suffix != ".ipynb"]
    assert files and others == [student_config.FILE_NAME], others


def test_solutions_are_regenerated_identically(course_copy):
    """solutions/ has the cells nbgrader generate_solution makes now (outputs are checked by nbval)."""
    build_release(course_copy)
    build_solutions(course_copy, execute=False)
    for name in NOTEBOOKS:
        fresh = nbformat.read(str(course_copy / "solutions" / ASSIGNMENT / f"{name}.ipynb"), as_version=4)
        committed = nbformat.read(str(SOLUTIONS / ASSIGNMENT / f"{name}.ipynb"), as_version=4)
        assert without_outputs(fresh) == without_outputs(committed), (
            f"solutions/{ASSIGNMENT}/{name}.ipynb is stale: run `make build` and commit")


def test_solutions_are_executed():
    for name in NOTEBOOKS:
        nb = nbformat.read(str(SOLUTIONS / ASSIGNMENT / f"{name}.ipynb"), as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.execution_count for c in code), f"{name}: solution notebook not fully executed"
        errors = [o for c in code for o in c.outputs if o.output_type == "error"]
        assert not errors, f"{name}: the solution raises {errors[0].ename}"


@pytest.mark.parametrize("text", sorted(LESSONS.glob("[0-9]*.py")), ids=lambda p: p.stem)
def test_lesson_is_regenerated_identically(text, tmp_path):
    fresh = build_notebook(text)
    committed = nbformat.read(str(text.with_suffix(".ipynb")), as_version=4)
    assert without_outputs(fresh) == without_outputs(committed), f"{text.with_suffix('.ipynb').name} is stale"


def test_build_is_deterministic():
    for name in NOTEBOOKS:
        text = SOURCE / ASSIGNMENT / f"{name}.py"
        assert nbformat.writes(build_notebook(text)) == nbformat.writes(build_notebook(text))


def test_include_cells_paste_the_provided_file(tmp_path):
    provided = REPO / "lab" / "provided" / "attention.py"
    text = tmp_path / "01_demo.py"
    text.write_text('# %% include="lab/provided/attention.py"\n\n# %%\nprint(1)\n')
    nb = build_notebook(text)
    assert nb.cells[0].source == provided.read_text().rstrip("\n")


def test_source_convention_errors_are_clear(tmp_path):
    text = tmp_path / "01_bad.py"
    text.write_text('# %% nbgrader={"grade": true, "grade_id": "t1"}\nassert True\n')
    with pytest.raises(NotebookSourceError, match="needs points"):
        build_notebook(text)
    text.write_text('# %% nbgrader={"solution": true}\nx = 1\n')
    with pytest.raises(NotebookSourceError, match="grade_id"):
        build_notebook(text)
    text.write_text('# %% nbgrader={"solution": true, "grade_id": "a"}\nx = 1\n\n'
                    '# %% nbgrader={"solution": true, "grade_id": "a"}\ny = 1\n')
    with pytest.raises(NotebookSourceError, match="duplicate"):
        build_notebook(text)


def test_build_executes_only_the_notebooks_whose_inputs_changed(course_copy, monkeypatch):
    """`make build` re-executes a solution notebook only when its text source, an included file, its checks or the
    lock changed (timings and figures differ from run to run: a rebuild must not rewrite them)."""
    import shutil

    from autograder import build

    executed = []

    def fake_generate_solution(course_root, assignment, notebook):  # nbgrader's executed run, minutes: stood in for
        executed.append(notebook)
        out = course_root / "solutions" / assignment
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SOLUTIONS / assignment / f"{notebook}.ipynb", out / f"{notebook}.ipynb")

    monkeypatch.setattr(build, "run_solution", fake_generate_solution)
    (course_copy / build.STAMPS).unlink(missing_ok=True)
    assert build.build_solutions(course_copy) == NOTEBOOKS  # no stamps yet: every notebook
    assert build.build_solutions(course_copy) == [] and executed == NOTEBOOKS
    text = course_copy / "source" / ASSIGNMENT / "03_rmsnorm.py"
    text.write_text(text.read_text() + "\n# an edit\n")
    assert build.build_solutions(course_copy) == ["03_rmsnorm"]
    (course_copy / "solutions" / ASSIGNMENT / "01_decoder_block.ipynb").unlink()  # a missing output is rebuilt
    assert build.build_solutions(course_copy) == ["01_decoder_block"]
    assert build.build_solutions(course_copy, force=True) == NOTEBOOKS


def test_the_committed_stamps_cover_every_executed_notebook():
    """.build-stamps.json is committed with the notebooks (a clean checkout's `make build` re-executes nothing):
    it names every solution and lesson notebook."""
    from autograder.build import STAMPS

    stamps = json.loads((REPO / STAMPS).read_text())
    expected = {f"solutions/{ASSIGNMENT}/{name}.ipynb" for name in NOTEBOOKS}
    expected |= {p.with_suffix(".ipynb").relative_to(REPO).as_posix() for p in LESSONS.glob("[0-9]*.py")}
    assert set(stamps) == expected


def test_build_acts_on_the_course_named_or_the_current_directory(tmp_path, monkeypatch, caplog):
    from autograder import cli

    monkeypatch.chdir(tmp_path)
    assert cli.main(["build", "sources"]) == cli.EXIT_SETUP  # not a course root: says so, changes nothing
    assert "not an nbgrader course root" in caplog.text
    assert cli.main(["build", "sourcez", "--course", str(REPO)]) == cli.EXIT_SETUP
    assert "unknown step(s) ['sourcez']" in caplog.text
