"""The KV-cache hidden checks (exercise 4b) pass every correct answer and fail every realistic wrong one.

Variants use the parts of the model they are given, as a student's cell does; the checks build their own small
models (parts only, no forward), so nothing here depends on training or on exercise 4a.
"""
import os

import pytest
import torch
from check_harness import judge_message, reference_namespace, variants, zeros_like_data

from autograder.checks import kv_cache
from autograder.variants import load_variant, mistake

NOTEBOOK = "04_tiny_language_model"
ALL_CHECKS = list(kv_cache.GROUPS.checks)
WRONG = variants("kv_cache", "wrong")
CORRECT = variants("kv_cache", "correct")
FOLDER = WRONG[0].parent.parent


def failures(generate, seed: int = 0) -> dict[str, str]:
    return kv_cache.GROUPS.failures(ALL_CHECKS, generate, seed=seed)


def reference_generate():
    # the source notebook's cells up to generate, with the training cut short as in grading
    os.environ.setdefault("NBGRADER_EXECUTION", "validate")
    try:
        return reference_namespace(NOTEBOOK, "generate_impl")["generate"]
    finally:
        if os.environ.get("NBGRADER_EXECUTION") == "validate":
            del os.environ["NBGRADER_EXECUTION"]


def wrong(stem):
    return load_variant(FOLDER / "wrong" / f"{stem}.py")["generate"]


def test_every_probe_has_a_judge():
    assert kv_cache.GROUPS.judges().missing() == []


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


@pytest.mark.parametrize("variant, failed", [
    ("recompute_without_cache", {"each_position_projected_once"}),
    ("batch_row_by_row", {"each_position_projected_once"}),
    ("no_eval_mode", {"dropout_is_off_while_generating"}),
    ("gradients_enabled", {"gradients_off_while_generating_and_on_after"}),
    ("gradients_left_off", {"gradients_off_while_generating_and_on_after"}),
])
def test_one_mistake_costs_one_check(variant, failed):
    """Decoding without a cache (or row by row) gives the right logits on ordinary models: only the drifting
    model's check fails. Eval mode and gradients each have a check of their own."""
    assert set(failures(wrong(variant))) == failed


def test_the_witness_names_the_likely_mistake():
    message = failures(wrong("recompute_without_cache"))["each_position_projected_once"]
    assert "recomputed" in message and "row by row" in message and "torch.cat" not in message
    message = failures(wrong("gradients_enabled"))["gradients_off_while_generating_and_on_after"]
    assert "no_grad" in message
    message = failures(wrong("gradients_left_off"))["gradients_off_while_generating_and_on_after"]
    assert "still off" in message


def test_the_drift_is_what_catches_recomputation():
    """On the same model without drift, decoding without a cache passes: the drift is the only witness."""
    generate = wrong("recompute_without_cache")
    for case in kv_cache.CASES:
        model, start = kv_cache.case_model(0, case, False), kv_cache.case_prompt(0, case, False)
        _, cached = reference_generate()(model, start, case[-1])
        _, recomputed = generate(kv_cache.case_model(0, case, False), start, case[-1])
        assert torch.allclose(cached, recomputed, rtol=1e-4, atol=1e-5)


def test_probe_models_have_no_forward():
    """Nothing in the kernel computes the block: the probe models are parts only (4a's answer is not there)."""
    model = kv_cache.build_model(0)
    with pytest.raises(RuntimeError, match="no forward"):
        model(torch.zeros(1, 2, dtype=torch.long))
    with pytest.raises(RuntimeError, match="no forward"):
        model.layers[0](torch.zeros(1, 2, 16))


def test_checks_leave_the_global_rng_and_grad_mode_alone():
    """A check that reseeds or draws from the global generator, or leaves gradients off, would change the
    student's later results."""
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    failures(reference_generate())
    failures(wrong("samples_instead_of_argmax"))
    failures(wrong("gradients_left_off"))
    assert torch.equal(torch.rand(3), expected)
    assert torch.is_grad_enabled()


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


# --- judged outside the kernel: other seeds, replayed and made-up data ------------------------------------------

def judge(name, data, seed):
    return judge_message(kv_cache.GROUPS, name, data, seed)


def probe(name, seed, generate=None):
    return kv_cache.GROUPS.checks[name].run_probe((generate or reference_generate(),), seed)


@pytest.mark.parametrize("path", CORRECT + WRONG, ids=lambda p: p.stem)
def test_a_variant_gets_the_same_verdicts_for_another_seed(path):
    generate = load_variant(path)["generate"]
    assert set(failures(generate, seed=7)) == set(failures(generate))


@pytest.mark.parametrize("name", ALL_CHECKS)
def test_data_of_another_seed_is_rejected(name):
    assert judge(name, probe(name, 8), 8) is None
    assert judge(name, probe(name, 5), 8) is not None


@pytest.mark.parametrize("name", ALL_CHECKS)
def test_shapes_without_values_are_rejected(name):
    assert judge(name, zeros_like_data(probe(name, 3)), 3) is not None


@pytest.mark.parametrize("name", ALL_CHECKS)
@pytest.mark.parametrize("garbage", [{}, {"runs": "no"}, {"tokens": [1, 2]}, {"alone": 3.0}, {"error": 1}])
def test_garbage_data_fails_with_a_message(name, garbage):
    assert judge(name, garbage, 3)


@pytest.mark.parametrize("name", ALL_CHECKS)
def test_extra_entries_are_rejected(name):
    data = probe(name, 3)
    assert judge(name, {**data, "count": 10**9}, 3) is not None


def test_uncached_data_cannot_pass_the_drift_check_by_replaying_values():
    """The values check's data (recorded on ordinary models) is not the drift check's: a generate without a cache
    cannot pass the drift check by reporting what it computed for the values group."""
    recorded = probe("step_logits_match_teacher_forcing", 3, wrong("recompute_without_cache"))
    assert judge("each_position_projected_once", recorded, 3) is not None
