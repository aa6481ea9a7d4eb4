"""Every exercise's hidden checks, tested the same way: found, not listed (see check_harness.py).

For every check module of lab/checks/ and its variants:
- names: every group a notebook runs exists, every group is run by exactly one hidden-test line, check and group
  names are identifiers with a description, every probe has a judge and every judge a probe, variants.toml names
  only variants, checks and cells that exist;
- the reference solution (the source notebook's solution cells) and every correct variant pass every check of the
  groups they answer, for several seeds; every wrong variant fails at least one (exactly the declared ones where
  variants.toml says `fails_exactly`), the same for every seed; every check fails some wrong variant;
- a crashing answer and the release's stub fail every check, with the error's message; checks leave the notebook's
  random state, threads and grad mode alone and print nothing to stderr;
- the judges reject data recorded for another seed, zeros of the right shapes, garbage and extra entries.

What is particular to one exercise stays in tests/test_checks_<exercise>.py.
"""
from __future__ import annotations

import pytest
import torch
from check_harness import (DECLARED_KEYS, Exercise, as_while_validating, check_module_names, exercises,
                           hidden_tests, variant_id, zeros_like_data)
from torch import nn

from autograder.wire import roundtrip
from autograder.variants import CHANGES, mistake

# Small tensors: several threads only add contention (and make a loaded machine very slow).
torch.set_num_threads(1)

EXERCISES = exercises()
CORRECT = [(ex, path) for ex in EXERCISES for path in ex.variants("correct")]
WRONG = [(ex, path) for ex in EXERCISES for path in ex.variants("wrong")]
CHECKS = [(ex, name) for ex in EXERCISES for name in ex.groups.checks]
# A grading run draws its own seed per notebook, large like this one (the probes' _stream mixing path). One other
# seed: every variant of 2a-2c takes seconds per seed.
OTHER_SEEDS = [2**61 + 7]
# What a forger who does not know the data's form might send (the keys are those the probes use).
GARBAGE = [{}, {"outputs": "no"}, {"y": [1, 2]}, {"grad": 3.0}, {"modules": [[]]}, {"calls": "no"},
           {"outputs": 3.0}, {"x": None}, {"runs": "no"}, {"tokens": [1, 2]}, {"alone": 3.0}, {"error": 1},
           {"params": [[]]}, {"results": 3.0}]


def _ids(item) -> str:
    if isinstance(item, Exercise):
        return item.name
    if isinstance(item, tuple):
        ex, x = item
        return variant_id(x) if hasattr(x, "stem") else f"{ex.name}.{x}"
    return str(item)


_failures_cache: dict = {}


def variant_failures(ex: Exercise, path, seed: int = 0) -> dict[str, str]:
    key = (ex.name, path, seed)
    if key not in _failures_cache:
        _failures_cache[key] = ex.failures(ex.load(path), seed)
    return _failures_cache[key]


# --- names: a typo anywhere is named, with what exists ------------------------------------------------------------

def test_every_check_module_is_run_by_a_notebook_and_has_variants():
    modules = check_module_names()
    run = {t.module for t in hidden_tests()}
    assert run <= set(modules), f"hidden-test lines import check modules that do not exist: {sorted(run - set(modules))}"
    assert set(modules) <= run, (f"no notebook runs the checks of {sorted(set(modules) - run)}: paste its hidden-test "
                                 "line into a graded cell of source/ (docs/instructors.md, 'Adding an exercise')")
    for ex in EXERCISES:
        for kind in ("correct", "wrong"):
            assert ex.variants(kind), (f"{ex.name}: no {kind} variants: files in tests/variants/{ex.name}/{kind}/ or "
                                       f"lines of its variants.toml's [{CHANGES[kind][0]}]")


@pytest.mark.parametrize("ex", EXERCISES, ids=_ids)
def test_every_group_is_run_once_and_every_run_names_a_group(ex):
    groups = sorted(ex.groups.groups)
    for test in ex.hidden_tests:
        assert test.group in ex.groups.groups, (f"{test.notebook}, cell {test.cell}: {ex.name} has no check group "
                                                f"{test.group!r}; its groups: {groups}")
    run = sorted(t.group for t in ex.hidden_tests)
    assert run == groups, f"{ex.name}: each group must be run by exactly one hidden-test line; run {run}, groups {groups}"


@pytest.mark.parametrize("ex", EXERCISES, ids=_ids)
def test_names_are_identifiers_and_checks_describe_themselves(ex):
    for group in ex.groups.groups:
        assert group.isidentifier(), f"{ex.name}: group {group!r} is not a Python identifier"
    for name, check in ex.groups.checks.items():
        assert name.isidentifier() and not name.startswith("_"), f"{ex.name}: check name {name!r}"
        assert check.probe.__doc__ and check.probe.__doc__.strip(), (
            f"{ex.name}.{name}: give the probe a docstring; its first line is what students read in their feedback")
    for kind in ("correct", "wrong"):
        for variant in ex.variants(kind):
            assert variant.stem.isidentifier(), f"{variant.id}: name variants as Python identifiers"
    for variant in ex.variants("wrong"):
        first = variant.code.splitlines()[0] if variant.code else ""
        assert first.startswith("# ") and mistake(variant), f"{variant.where}: say the mistake (a file's first line: # ...)"


@pytest.mark.parametrize("ex", EXERCISES, ids=_ids)
def test_every_probe_has_a_judge_and_every_judge_a_probe(ex):
    judges = ex.groups.judges()  # a judge of a probe that does not exist already fails here, naming it
    assert judges.missing() == [], f"{ex.name}: probes without a judge in lab/judges/{ex.name}.py"
    assert set(judges.fns) <= set(ex.groups.checks)


@pytest.mark.parametrize("ex", EXERCISES, ids=_ids)
def test_variants_toml_names_what_exists(ex):
    declared = ex.declared
    unknown = set(declared) - set(DECLARED_KEYS)
    assert not unknown, f"tests/variants/{ex.name}/variants.toml: unknown keys {sorted(unknown)}; known: {DECLARED_KEYS}"
    wrong = {p.stem for p in ex.variants("wrong")}
    checks = set(ex.groups.checks)
    from visible_harness import notebook_cells

    test_cells = {c.grade_id for c in notebook_cells(ex.notebook) if c.kind == "test"}
    for table in ("caught", "fails_exactly", "tolerance_sized"):
        for stem, value in declared.get(table, {}).items():
            assert stem in wrong, f"{ex.name}/variants.toml [{table}]: no wrong variant {stem!r}; they are {sorted(wrong)}"
            if table == "caught":
                assert value[0] in test_cells, (f"{ex.name}/variants.toml [caught] {stem}: {ex.notebook} has no graded "
                                                f"cell {value[0]!r}; its graded cells: {sorted(test_cells)}")
            else:
                assert set(value) <= checks, (f"{ex.name}/variants.toml [{table}] {stem}: no checks "
                                              f"{sorted(set(value) - checks)}; the checks: {sorted(checks)}")
    for key in ("seed_free", "structure"):
        unknown = set(declared.get(key, [])) - checks
        assert not unknown, f"{ex.name}/variants.toml {key}: no checks {sorted(unknown)}; the checks: {sorted(checks)}"


# --- answers: the reference, correct and wrong variants ---------------------------------------------------------

@pytest.mark.parametrize("ex", EXERCISES, ids=_ids)
def test_reference_solution_passes_every_check(ex):
    assert ex.answered(ex.reference) == list(ex.groups.groups)
    assert ex.failures(ex.reference) == {}


@pytest.mark.parametrize("seed", [0, *OTHER_SEEDS])
@pytest.mark.parametrize("ex_path", CORRECT, ids=_ids)
def test_correct_variant_passes_every_check(ex_path, seed):
    ex, path = ex_path
    assert ex.answered(ex.load(path)), (f"{variant_id(path)} defines none of the names the groups run on "
                                        f"({sorted(set(ex.argument.values()))})")
    assert variant_failures(ex, path, seed) == {}


@pytest.mark.parametrize("ex_path", WRONG, ids=_ids)
def test_wrong_variant_fails_a_check(ex_path):
    ex, path = ex_path
    failed = variant_failures(ex, path)
    assert failed, f"no check catches: {mistake(path)}"
    exactly = ex.declared.get("fails_exactly", {}).get(path.stem)
    if exactly is not None:
        assert set(failed) == set(exactly), f"{variant_id(path)}: fails {sorted(failed)}, declared {sorted(exactly)}"


@pytest.mark.parametrize("seed", OTHER_SEEDS)
@pytest.mark.parametrize("ex_path", WRONG, ids=_ids)
def test_wrong_variant_fails_the_same_checks_for_other_seeds(ex_path, seed):
    """The seed changes the inputs and weights, never whether an implementation passes a check."""
    ex, path = ex_path
    failed = set(variant_failures(ex, path, seed))
    at_least = ex.declared.get("tolerance_sized", {}).get(path.stem)
    if at_least is not None:
        assert failed >= set(at_least)
    else:
        assert failed == set(variant_failures(ex, path))


@pytest.mark.parametrize("ex", EXERCISES, ids=_ids)
def test_every_check_rejects_some_wrong_variant(ex):
    """A check that no wrong implementation fails is not a check."""
    caught = set()
    for path in ex.variants("wrong"):
        caught |= set(variant_failures(ex, path))
    assert set(ex.groups.checks) - caught == set(), "add a wrong variant that only these checks catch"


class Broken(nn.Module):
    """An answer that raises when built or called (a class or a function: the probes call it either way)."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        raise RuntimeError("boom")


class Stub(nn.Module):
    """The release's stub: `raise NotImplementedError()`."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        raise NotImplementedError()


@pytest.mark.parametrize("ex", EXERCISES, ids=_ids)
def test_a_crashing_submission_and_the_release_stub_fail_every_check(ex):
    for answer, words in ((Broken, "RuntimeError: boom"), (Stub, "NotImplementedError")):
        namespace = {name: answer for name in ex.argument.values()}
        failed = ex.failures(namespace)
        assert set(failed) == set(ex.groups.checks), answer.__name__
        assert all(words in message for message in failed.values()), failed


@pytest.mark.parametrize("ex", EXERCISES, ids=_ids)
def test_checks_leave_the_notebooks_state_alone(ex, capfd):
    """A hidden test must not change what the student's later cells draw, their threads or grad mode, and prints
    nothing to stderr (a test cell with output on stderr scores 0 in nbgrader)."""
    answers = ex.reference
    threads = torch.get_num_threads()
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    capfd.readouterr()
    with as_while_validating():
        for group in ex.groups.groups:
            ex.groups.run(group, answers[ex.argument[group]])
    assert capfd.readouterr().err == ""
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads and torch.is_grad_enabled()


# --- the judges: what the kernel sends is not trusted -------------------------------------------------------------

@pytest.mark.parametrize("ex_name", CHECKS, ids=_ids)
def test_data_of_another_seed_is_rejected(ex_name):
    """Data the reference computed for another grading run's seed (a replay)."""
    ex, name = ex_name
    assert ex.judge(name, ex.probe(name, 8), 8) is None
    if name in ex.declared.get("seed_free", []) + ex.declared.get("structure", []):
        return
    assert ex.judge(name, ex.probe(name, 5), 8) is not None, "build the inputs (and weights) from the seed"


@pytest.mark.parametrize("ex_name", CHECKS, ids=_ids)
def test_shapes_without_values_are_rejected(ex_name):
    ex, name = ex_name
    if name in ex.declared.get("structure", []):
        return
    data = ex.probe(name, 3)
    how = (f"{ex.name}.{name} passes data of the right form with zeros for every value ({zeros_like_data(data, True)!r:.200}): "
           "if the check is about form only (which exception, a shape, a dtype: no value of the grader's in its data), "
           f"declare it in tests/variants/{ex.name}/variants.toml: structure = [\"{name}\"] (docs/instructors.md)")
    if _has_tensor(data):  # data of numbers only (a duration, a peak) is unchanged by this
        assert ex.judge(name, zeros_like_data(data), 3) is not None, how
    assert ex.judge(name, zeros_like_data(data, numbers=True), 3) is not None, how


def _has_tensor(data) -> bool:
    if isinstance(data, torch.Tensor):
        return True
    values = data.values() if isinstance(data, dict) else data if isinstance(data, list) else []
    return any(_has_tensor(v) for v in values)


@pytest.mark.parametrize("ex_name", CHECKS, ids=_ids)
def test_garbage_and_extra_entries_fail_with_a_message(ex_name):
    ex, name = ex_name
    for garbage in GARBAGE:
        assert ex.judge(name, garbage, 3), f"{name} accepted {garbage}"
    assert ex.judge(name, {**ex.probe(name, 3), "count": 10**9}, 3) is not None


@pytest.mark.parametrize("ex", EXERCISES, ids=_ids)
def test_a_group_with_a_second_result_or_a_missing_one_fails(ex):
    """The wire is strict: one result per check of the group, no more, no fewer."""
    judges = ex.groups.judges()
    for group, names in ex.groups.groups.items():
        data = {name: roundtrip(ex.probe(name, 3)) for name in names}
        assert all(v is None for v in judges.judge_group(group, data, 3).values())
        assert all(judges.judge_group(group, {**data, "extra": {}}, 3).values())
        assert all(judges.judge_group(group, {names[0]: data[names[0]]}, 3).values()) or len(names) == 1
