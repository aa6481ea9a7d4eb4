"""The KV-cache hidden checks (exercise 4a) pass every correct answer and fail every realistic wrong one.

Variants use the provided TinyLM's parts through the model they are given, as a student's cell does; the checks
build their own small models from the provided code, so nothing here depends on training.
"""
import pytest
import torch
from check_harness import judge_message, reference_namespace, variants, zeros_like_data

from autograder.checks import kv_cache
from autograder.variants import load_variant, mistake

NOTEBOOK = "04_tiny_language_model"
ALL_CHECKS = list(kv_cache.GROUPS.checks)
WRONG = variants("kv_cache", "wrong")
CORRECT = variants("kv_cache", "correct")


def failures(generate) -> dict[str, str]:
    return kv_cache.GROUPS.failures(ALL_CHECKS, generate)


def reference_generate():
    return reference_namespace(NOTEBOOK, "generate_impl")["generate"]


def test_reference_solution_passes_every_check():
    assert failures(reference_generate()) == {}


@pytest.mark.parametrize("path", CORRECT, ids=lambda p: p.stem)
def test_correct_variant_passes_every_check(path):
    assert failures(load_variant(path)["generate"]) == {}


@pytest.mark.parametrize("path", WRONG, ids=lambda p: p.stem)
def test_wrong_variant_fails_a_check(path):
    assert failures(load_variant(path)["generate"]), f"no check catches: {mistake(path)}"


def test_every_check_rejects_some_wrong_variant():
    """A check that no wrong implementation fails is not a check."""
    caught = set()
    for path in WRONG:
        caught |= set(failures(load_variant(path)["generate"]))
    assert set(ALL_CHECKS) - caught == set()


def test_every_check_is_in_a_graded_group():
    grouped = [name for names in kv_cache.GROUPS.groups.values() for name in names]
    assert sorted(grouped) == sorted(ALL_CHECKS)


@pytest.mark.parametrize("variant, group", [("recompute_without_cache", "values"),
                                            ("positions_restart_at_zero", "cache")])
def test_one_mistake_costs_one_cell(variant, group):
    """Recomputing gives the right logits (only the cache cell fails); a wrong position gives wrong logits with a
    correctly growing cache (only the values cell fails): the two graded cells grade different things."""
    generate = load_variant(WRONG[0].parent / f"{variant}.py")["generate"]
    assert kv_cache.GROUPS.failures(kv_cache.GROUPS.groups[group], generate) == {}


def test_recomputation_is_named_in_the_message():
    generate = load_variant(WRONG[0].parent / "recompute_without_cache.py")["generate"]
    message = failures(generate)["one_new_position_per_step"]
    assert "recomputed" in message and "torch.cat" not in message


def test_checks_leave_the_global_rng_alone():
    """A check that reseeds or draws from the global generator would change the student's later results."""
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    failures(reference_generate())
    failures(load_variant(WRONG[0].parent / "samples_instead_of_argmax.py")["generate"])
    assert torch.equal(torch.rand(3), expected)


def test_checks_print_nothing_to_stderr(capfd):
    """A test cell with output on stderr scores 0 in nbgrader."""
    kv_cache.GROUPS.run("values", reference_generate())
    kv_cache.GROUPS.run("cache", reference_generate())
    assert capfd.readouterr().err == ""


def test_a_crashing_submission_is_reported_not_raised():
    def broken(model, prompt, num_new_tokens):
        raise RuntimeError("boom")

    failed = failures(broken)
    assert set(failed) == set(ALL_CHECKS)
    assert all("RuntimeError: boom" in msg for msg in failed.values())


# --- judged checks: other seeds, replayed and made-up data ----------------------------------------------------

JUDGED = [name for name in ALL_CHECKS if kv_cache.GROUPS.checks[name].judged]


def judge(name, data, seed):
    return judge_message(kv_cache.GROUPS, name, data, seed)


def probe(name, seed):
    return kv_cache.GROUPS.checks[name].run_probe((reference_generate(),), seed)


@pytest.mark.parametrize("path", CORRECT + WRONG, ids=lambda p: p.stem)
def test_a_variant_gets_the_same_verdicts_for_another_seed(path):
    generate = load_variant(path)["generate"]
    assert set(kv_cache.GROUPS.failures(ALL_CHECKS, generate, seed=7)) == set(failures(generate))


@pytest.mark.parametrize("name", JUDGED)
def test_data_of_another_seed_is_rejected(name):
    assert judge(name, probe(name, 8), 8) is None
    assert judge(name, probe(name, 5), 8) is not None


@pytest.mark.parametrize("name", JUDGED)
def test_shapes_without_values_are_rejected(name):
    data = zeros_like_data(probe(name, 3))
    assert judge(name, data, 3) is not None


@pytest.mark.parametrize("name", JUDGED)
@pytest.mark.parametrize("garbage", [{}, {"runs": "no"}, {"tokens": [1, 2]}, {"alone": 3.0}])
def test_garbage_data_fails_with_a_message(name, garbage):
    assert judge(name, garbage, 3)


def test_eval_mode_has_a_judged_witness():
    """The cache cell's judged check: a generate that leaves dropout on fails it, and only the guarded eval check
    besides."""
    generate = load_variant(WRONG[0].parent / "no_eval_mode.py")["generate"]
    assert set(failures(generate)) == {"dropout_is_off_while_generating", "eval_mode_without_gradients"}
