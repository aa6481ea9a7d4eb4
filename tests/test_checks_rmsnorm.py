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
