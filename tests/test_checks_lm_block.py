"""The decoder-only block's hidden checks (exercise 4a) pass every correct answer and fail every realistic wrong one,
whatever RMSNorm the notebook holds (the student's own, or nn.RMSNorm standing in)."""
import functools
import os

import pytest
import torch
from check_harness import judge_message, reference_namespace, variants, zeros_like_data
from torch import nn

from autograder.checks import lm_block
from autograder.provided import as_in_notebook
from autograder.provided.attention import MultiHeadAttention
from autograder.variants import load_variant, mistake

NOTEBOOK = "04_tiny_language_model"
ALL_CHECKS = list(lm_block.GROUPS.checks)
WRONG = variants("lm_block", "wrong")
CORRECT = variants("lm_block", "correct")
PROVIDED = as_in_notebook("tiny_lm.py", {"MultiHeadAttention": MultiHeadAttention})
PRELUDE = {"SelfAttention": PROVIDED["SelfAttention"], "RMSNorm": functools.partial(nn.RMSNorm, eps=1e-6)}


def block_class(path, prelude=None):
    return load_variant(path, prelude or PRELUDE)["DecoderOnlyBlock"]


def failures(cls, seed: int = 0) -> dict[str, str]:
    return lm_block.GROUPS.failures(ALL_CHECKS, cls, seed=seed)


def reference_block():
    os.environ.setdefault("NBGRADER_EXECUTION", "validate")
    try:
        return reference_namespace(NOTEBOOK, "block_impl")["DecoderOnlyBlock"]
    finally:
        if os.environ.get("NBGRADER_EXECUTION") == "validate":
            del os.environ["NBGRADER_EXECUTION"]


def test_every_probe_has_a_judge():
    assert lm_block.GROUPS.judges().missing() == []


def test_reference_solution_passes_every_check():
    assert failures(reference_block()) == {}


@pytest.mark.parametrize("path", CORRECT, ids=lambda p: p.stem)
def test_correct_variant_passes_every_check(path):
    assert failures(block_class(path)) == {}


@pytest.mark.parametrize("path", WRONG, ids=lambda p: p.stem)
def test_wrong_variant_fails_a_check(path):
    assert failures(block_class(path)), f"no check catches: {mistake(path)}"


def test_every_check_rejects_some_wrong_variant():
    caught = set()
    for path in WRONG:
        caught |= set(failures(block_class(path)))
    assert set(ALL_CHECKS) - caught == set()


def test_every_check_is_in_a_graded_group():
    grouped = [name for names in lm_block.GROUPS.groups.values() for name in names]
    assert sorted(grouped) == sorted(ALL_CHECKS)


def test_a_small_mistake_of_exercise_3_costs_nothing_here():
    """A student's RMSNorm with eps outside the square root (3a's mistake) still passes 4a: the probes swap the
    block's norms, and the one check of the student's norms only tells RMSNorm from LayerNorm."""
    class EpsOutside(nn.Module):
        def __init__(self, d_model, eps=1e-6):
            super().__init__()
            self.eps, self.weight = eps, nn.Parameter(torch.ones(d_model))

        def forward(self, x):
            return x / (x.pow(2).mean(-1, keepdim=True).sqrt() + self.eps) * self.weight

    path = CORRECT[0].parent / "one_expression_per_sublayer.py"
    assert failures(block_class(path, {**PRELUDE, "RMSNorm": EpsOutside})) == {}


def test_layer_norm_fails_only_the_norm_check():
    assert set(failures(block_class(WRONG[0].parent / "layer_norm.py"))) == {"norms_rescale_without_recentring"}


def test_dropout_mistakes_fail_only_the_training_group():
    for stem in ("no_dropout_after_attention", "functional_dropout_always_on"):
        failed = failures(block_class(WRONG[0].parent / f"{stem}.py"))
        assert failed and set(failed) <= set(lm_block.GROUPS.groups["training"]), (stem, failed)


def test_checks_leave_the_global_rng_alone():
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    failures(reference_block())
    assert torch.equal(torch.rand(3), expected)


def test_a_crashing_submission_is_reported_not_raised():
    class Broken(nn.Module):
        def __init__(self, *args):
            super().__init__()
            raise RuntimeError("boom")

    failed = failures(Broken)
    assert set(failed) == set(ALL_CHECKS)
    assert all("RuntimeError: boom" in msg for msg in failed.values())


# --- judged outside the kernel ------------------------------------------------------------------------------

def judge(name, data, seed):
    return judge_message(lm_block.GROUPS, name, data, seed)


def probe(name, seed):
    return lm_block.GROUPS.checks[name].run_probe((reference_block(),), seed)


@pytest.mark.parametrize("path", CORRECT + WRONG, ids=lambda p: p.stem)
def test_a_variant_gets_the_same_verdicts_for_another_seed(path):
    cls = block_class(path)
    assert set(failures(cls, seed=2**61 + 5)) == set(failures(cls))


@pytest.mark.parametrize("name", ALL_CHECKS)
def test_data_of_another_seed_is_rejected(name):
    assert judge(name, probe(name, 8), 8) is None
    assert judge(name, probe(name, 5), 8) is not None


@pytest.mark.parametrize("name", ALL_CHECKS)
def test_shapes_without_values_are_rejected(name):
    assert judge(name, zeros_like_data(probe(name, 3)), 3) is not None


@pytest.mark.parametrize("name", ALL_CHECKS)
@pytest.mark.parametrize("garbage", [{}, {"calls": "no"}, {"y": [1, 2]}, {"outputs": 3.0}, {"x": None}])
def test_garbage_data_fails_with_a_message(name, garbage):
    assert judge(name, garbage, 3)


@pytest.mark.parametrize("name", ALL_CHECKS)
def test_extra_entries_are_rejected(name):
    assert judge(name, {**probe(name, 3), "count": 10**9}, 3) is not None


def test_the_stand_in_block_is_not_an_answer():
    """The provided TorchBlock (PyTorch's layer, for training before 4a is written) fails 4a's checks."""
    assert set(failures(PROVIDED["TorchBlock"])) == set(ALL_CHECKS)
