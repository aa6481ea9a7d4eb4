"""The decoder-only block's hidden checks (4a): what is particular to them (whatever RMSNorm the notebook holds: the
student's own, or nn.RMSNorm standing in). The rest is in tests/test_checks.py."""
import torch
from check_harness import exercise
from torch import nn
from autograder.paths import VARIANTS

EX = exercise("lm_block")
FOLDER = VARIANTS / "lm_block"


def failures(cls):
    return EX.failures({"DecoderOnlyBlock": cls})


def test_a_small_mistake_of_exercise_3_costs_nothing_here():
    """A student's RMSNorm with eps outside the square root (3a's mistake) still passes 4a: the probes swap the
    block's norms, and the one check of the student's norms only tells RMSNorm from LayerNorm."""
    class EpsOutside(nn.Module):
        def __init__(self, d_model, eps=1e-6):
            super().__init__()
            self.eps, self.weight = eps, nn.Parameter(torch.ones(d_model))

        def forward(self, x):
            return x / (x.pow(2).mean(-1, keepdim=True).sqrt() + self.eps) * self.weight

    from autograder.variants import load_variant

    path = FOLDER / "correct" / "one_expression_per_sublayer.py"
    block = load_variant(path, {**EX.prelude, "RMSNorm": EpsOutside})["DecoderOnlyBlock"]
    assert failures(block) == {}


def test_dropout_mistakes_fail_only_the_training_group():
    for stem in ("no_dropout_after_attention", "functional_dropout_always_on"):
        failed = EX.failures(EX.load(FOLDER / "wrong" / f"{stem}.py"))
        assert failed and set(failed) <= set(EX.groups.groups["training"]), (stem, failed)


def test_the_stand_in_block_is_not_an_answer():
    """The provided TorchBlock (PyTorch's layer, for training before 4a is written) fails 4a's checks."""
    assert set(failures(EX.reference["TorchBlock"])) == set(EX.groups.checks)
