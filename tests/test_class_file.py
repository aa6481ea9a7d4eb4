"""Fast checks of what an instructor types: class.toml against the course, and typos named with what exists.

The golden test (tests/test_example_class.py, slow) grades the example class; this one says in a second whether
class.toml can be right at all: every notebook, grade id and variant it names exists, every student has a score for
every notebook, and every score is one grading can give (points x passed/checks per graded cell).
"""
import pytest

from autograder import example_class
from lab.checks import rmsnorm
from autograder.probing import CheckGroups
from autograder.example_class import ClassFileError, Student, check_class_file, class_file_problems
from autograder.judging import Judges
from autograder.paths import assignment_notebook_names

NOTEBOOKS = assignment_notebook_names()
# Full marks of every notebook's automatically graded cells, read from the course (not a copy of today's points).
FULL = {nb: max(example_class.reachable_scores(nb)) for nb in NOTEBOOKS}


def test_class_toml_matches_the_course():
    problems = class_file_problems(example_class.load_class())
    assert not problems, "\n".join(problems)


def test_the_reference_solution_scores_the_maximum():
    """A notebook answered with "solution" (every cell the reference's) gets every automatic point."""
    for student in example_class.load_class():
        for notebook, answers in student.answers.items():
            if answers == "solution":
                maximum = sum(cell.points for cell in example_class.graded_cells(notebook))
                assert student.expected[notebook] == maximum, (student.id, notebook)


def student(**kwargs) -> Student:
    spec = {"id": "zoe", "about": "typos", "answers": {}, "expected": {name: 0.0 for name in NOTEBOOKS}}
    spec.update(kwargs)
    return Student(**spec)


@pytest.mark.parametrize("typo, words", [
    ({"answers": {"03_rmsnrom": "solution"}}, ["no notebook '03_rmsnrom'", "did you mean '03_rmsnorm'"]),
    ({"answers": {"03_rmsnorm": {"rmsnorm_imp": "rmsnorm/wrong/layernorm"}}},
     ["no solution cell 'rmsnorm_imp'", "did you mean 'rmsnorm_impl'", "bench_impl"]),
    ({"answers": {"03_rmsnorm": {"rmsnorm_impl": "rmsnorm/wrong/layer_norm"}}},
     ["no variant 'rmsnorm/wrong/layer_norm'", "did you mean 'rmsnorm/wrong/layernorm'"]),
    ({"expected": {**{name: 0.0 for name in NOTEBOOKS}, "03_rmsnorm": 6.9}},
     ["03_rmsnorm = 6.9 is a score grading cannot give", "6.8", "maximum 8.0"]),
    ({"expected": {"03_rmsnorm": 8.0}}, ["no expected score for", "01_decoder_block"]),
])
def test_a_typo_in_class_toml_is_named_with_what_exists(typo, words):
    with pytest.raises(ClassFileError) as error:
        check_class_file([student(**typo)])
    for word in words:
        assert word in str(error.value), str(error.value)


def test_an_all_or_nothing_score_must_be_whole_cells():
    problems = class_file_problems([student(expected_all_or_nothing={**FULL, "03_rmsnorm": 6.8})])
    assert len(problems) == 1 and "expected_all_or_nothing: 03_rmsnorm = 6.8" in problems[0], problems


def test_a_typo_in_a_group_name_is_named_with_the_groups():
    with pytest.raises(KeyError) as error:
        rmsnorm.GROUPS.run("value", object)
    message = str(error.value)
    assert "no check group 'value'" in message and "did you mean 'values'" in message and "dtypes" in message


@pytest.mark.parametrize("names", ["values", None])
def test_failures_of_a_group_name_or_none_says_what_it_takes(names):
    """GROUPS.failures takes check names (a newcomer passed a group's name, then None: trial6)."""
    with pytest.raises(TypeError) as error:
        rmsnorm.GROUPS.failures(names, object)
    assert "list of check names" in str(error.value) and 'GROUPS.names(<group>)' in str(error.value)
    assert "values" in str(error.value).split("groups:")[1]


def test_a_judge_of_a_probe_that_does_not_exist_is_named():
    groups = CheckGroups(name="demo")

    @groups.probe("values")
    def output_matches(cls, seed):
        """a check"""
        return {}

    with pytest.raises(KeyError, match="'output_matche'; did you mean 'output_matches'"):
        Judges(groups).judge("output_matche")


def test_lab_grade_names_each_score_that_differs_from_the_golden_one():
    """`lab grade` compares the class's scores with example_class.toml (expected_all_or_nothing without partial
    credit) and lists each difference; its summary says so and the command fails (cli.cmd_grade)."""
    from types import SimpleNamespace

    from traitlets.config import Config

    from autograder.example_class import Student
    from autograder.example_class.grade import golden_mismatches
    from autograder.report import ClassScores

    roster = [Student("amy", "", {}, {"01_a": 2.0, "02_b": 3.0}, {"01_a": 0.0, "02_b": 3.0})]
    scores = ClassScores(["01_a", "02_b"], ["amy"])
    scores.score.update({("amy", "01_a"): 1.5, ("amy", "02_b"): 3.0})
    partial, all_or_nothing = Config(), Config()
    all_or_nothing.SandboxedExecute.partial_credit = False
    assert golden_mismatches(scores, roster, SimpleNamespace(config=partial)) == ["amy 01_a: 1.5, expected 2.0"]
    assert golden_mismatches(scores, roster, SimpleNamespace(config=all_or_nothing)) == ["amy 01_a: 1.5, expected 0.0"]
    scores.score[("amy", "01_a")] = 2.0
    assert golden_mismatches(scores, roster, SimpleNamespace(config=partial)) == []
    del scores.score[("amy", "02_b")]
    assert golden_mismatches(scores, roster, SimpleNamespace(config=partial)) == ["amy 02_b: no grade, expected 3.0"]
