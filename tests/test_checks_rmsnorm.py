"""The RMSNorm hidden checks pass every correct answer and fail every realistic wrong one."""
import pytest
import torch
from check_harness import judge_message, reference_namespace, variants, zeros_like_data

from autograder.checks import rmsnorm
from autograder.variants import load_variant, mistake

ALL_CHECKS = list(rmsnorm.GROUPS.checks)
WRONG = variants("rmsnorm", "wrong")


def failures(cls):
    return rmsnorm.GROUPS.failures(ALL_CHECKS, cls)


def test_reference_solution_passes_every_check():
    reference = reference_namespace("03_rmsnorm", "rmsnorm_impl")["RMSNorm"]
    assert failures(reference) == {}


@pytest.mark.parametrize("path", variants("rmsnorm", "correct"), ids=lambda p: p.stem)
def test_correct_variant_passes_every_check(path):
    assert failures(load_variant(path)["RMSNorm"]) == {}


@pytest.mark.parametrize("path", WRONG, ids=lambda p: p.stem)
def test_wrong_variant_fails_a_check(path):
    failed = failures(load_variant(path)["RMSNorm"])
    assert failed, f"no check catches: {mistake(path)}"


def test_the_lab_solution_loses_only_what_the_stated_api_forbids():
    """The lab's own RMSNorm is a correct variant with one change (half precision in float32, cast back); unchanged,
    it fails the half-precision check and nothing else (issue 11: a wrong variant only for that reason)."""
    folder = variants("rmsnorm", "correct")[0].parent.parent
    assert failures(load_variant(folder / "correct" / "lab_solution.py")["RMSNorm"]) == {}
    unchanged = failures(load_variant(folder / "wrong" / "lab_solution_unchanged.py")["RMSNorm"])
    assert set(unchanged) == {"half_precision_large_values"}, unchanged


def test_a_bfloat16_statistic_is_accepted():
    """The notebook requires a float32 statistic for float16 only: computing a bfloat16 input's statistic in
    bfloat16 (and casting back) keeps full marks, while the same in float16 does not."""
    class Bfloat16Statistic(rmsnorm.nn.Module):
        def __init__(self, d_model, eps=1e-6):
            super().__init__()
            self.eps = eps
            self.weight = rmsnorm.nn.Parameter(rmsnorm.torch.ones(d_model))

        def forward(self, x):
            h = x if x.dtype == rmsnorm.torch.bfloat16 else x.float()
            y = h * rmsnorm.torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight.to(h.dtype)
            return y.to(x.dtype)

    assert failures(Bfloat16Statistic) == {}
    half = failures(load_variant(WRONG[0].parent / "half_precision_statistic.py")["RMSNorm"])
    assert "float16 input" in half["half_precision_large_values"]


def test_every_check_rejects_some_wrong_variant():
    """A check that no wrong implementation fails is not a check."""
    caught = set()
    for path in WRONG:
        caught |= set(failures(load_variant(path)["RMSNorm"]))
    assert set(ALL_CHECKS) - caught == set()


def test_every_check_is_in_a_graded_group():
    grouped = [name for names in rmsnorm.GROUPS.groups.values() for name in names]
    assert sorted(grouped) == sorted(ALL_CHECKS)


def test_failure_message_says_what_is_wrong_without_the_answer():
    failed = failures(load_variant(variants("rmsnorm", "wrong")[0].parent / "half_precision_statistic.py")["RMSNorm"])
    message = failed["half_precision_large_values"]
    assert "float32" in message and "rsqrt" not in message


def test_a_crashing_submission_is_reported_not_raised():
    class Broken(rmsnorm.nn.Module):
        def __init__(self, d_model, eps=1e-6):
            super().__init__()
            raise RuntimeError("boom")

    failed = failures(Broken)
    assert set(failed) == set(ALL_CHECKS)
    assert all("RuntimeError: boom" in msg for msg in failed.values())


# --- judged outside the student's process: the probe's data must be the right numbers for the grader's inputs ----

SEEDS = [1, 2**61 + 12345]  # grading draws a fresh seed per notebook: outcomes may not depend on it
REPORTED_FACTS: set = set()  # none since issue 20: every check compares the outputs with the reference


def correct_class():
    return load_variant(variants("rmsnorm", "correct")[0].parent / "llama_style.py")["RMSNorm"]


def test_every_probe_has_a_judge():
    assert rmsnorm.GROUPS.judges().missing() == []


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("path", variants("rmsnorm", "correct"), ids=lambda p: p.stem)
def test_correct_variant_passes_for_other_seeds(path, seed):
    assert rmsnorm.GROUPS.failures(ALL_CHECKS, load_variant(path)["RMSNorm"], seed=seed) == {}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("path", WRONG, ids=lambda p: p.stem)
def test_wrong_variant_fails_the_same_checks_for_other_seeds(path, seed):
    cls = load_variant(path)["RMSNorm"]
    assert set(rmsnorm.GROUPS.failures(ALL_CHECKS, cls, seed=seed)) == set(failures(cls))


def judge(name, data, seed):
    return judge_message(rmsnorm.GROUPS, name, data, seed)


def probe(name, cls, seed):
    return rmsnorm.GROUPS.checks[name].run_probe((cls,), seed)


@pytest.mark.parametrize("name", ALL_CHECKS)
def test_correct_data_for_other_inputs_is_rejected(name):
    """Data a correct RMSNorm computed for another seed's inputs (a replay of another grading run)."""
    replayed = probe(name, correct_class(), seed=7)
    assert judge(name, probe(name, correct_class(), seed=8), 8) is None
    if name in REPORTED_FACTS:
        return  # no inputs of the grader's in them: what every correct module reports
    assert judge(name, replayed, 8) is not None


@pytest.mark.parametrize("name", sorted(set(ALL_CHECKS) - REPORTED_FACTS))
def test_shapes_without_values_are_rejected(name):
    assert judge(name, zeros_like_data(probe(name, correct_class(), seed=3)), 3) is not None


@pytest.mark.parametrize("name", ALL_CHECKS)
@pytest.mark.parametrize("garbage", [{}, {"outputs": "no"}, {"y": [1, 2]}, {"grad": 3.0}, {"modules": [[]]}])
def test_garbage_data_fails_with_a_message(name, garbage):
    message = judge(name, garbage, 3)
    assert message, f"{name} accepted {garbage}"


def test_data_goes_through_the_channel_unchanged():
    from autograder.checks._wire import roundtrip
    data = probe("values_match_reference", correct_class(), seed=5)
    back = roundtrip(data)
    assert all(torch.equal(a, b) for a, b in zip(data["outputs"], back["outputs"]))


def _identity_data(name, seed):
    """Made-up data of the right form, from the probes' own input builders and no RMSNorm: the identity's outputs,
    the inputs cast or sent back as they were (tests/adversarial/cases/forged_made_up_data.py)."""
    if name == "scale_invariant":
        x = rmsnorm._randn((5, 32), seed, 24)
        return {"y": x, "scaled": [x, x, x], "negated": -x}
    if name == "normalises_each_position_separately":
        x, x2 = rmsnorm._position_inputs(seed)
        return {"y": x, "y2": x2}
    if name == "float32_and_float64_kept":
        return {"outputs": [rmsnorm._randn((2, 3, 16), seed, 18).to(dt) for dt in rmsnorm.KEPT_DTYPES]}
    if name == "input_left_unchanged":
        inputs = [rmsnorm._unchanged_input(seed, dt) for dt in rmsnorm.UNCHANGED_DTYPES]
        return {"inputs_after": inputs, "outputs": inputs}
    return None


@pytest.mark.parametrize("name", ["scale_invariant", "normalises_each_position_separately",
                                  "float32_and_float64_kept", "input_left_unchanged"])
def test_made_up_data_of_the_right_form_is_rejected(name):
    """The checks that judged only the data's form or its outputs' relations with each other passed made-up data
    (2.73 of 8 for an empty answer, issue 20): each also compares the outputs with the reference now."""
    assert judge(name, _identity_data(name, 11), 11) is not None
    assert judge(name, probe(name, correct_class(), seed=11), 11) is None
