"""The RMSNorm hidden checks pass every correct answer and fail every realistic wrong one."""
import pytest
from check_harness import reference_namespace, variants

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
