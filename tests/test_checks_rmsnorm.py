"""RMSNorm's hidden checks (3a): what is particular to them. The rest (every variant, seed, replay, garbage) is in
tests/test_checks.py."""
import torch
from check_harness import exercise

from lab.checks import rmsnorm
from autograder.wire import roundtrip
from autograder.paths import VARIANTS

EX = exercise("rmsnorm")
WRONG = VARIANTS / "rmsnorm" / "wrong"


def failures(cls):
    return EX.failures({"RMSNorm": cls})


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
    half = EX.failures(EX.load(WRONG / "half_precision_statistic.py"))
    assert "float16 input" in half["half_precision_large_values"]


def test_failure_message_says_what_is_wrong_without_the_answer():
    message = EX.failures(EX.load(WRONG / "half_precision_statistic.py"))["half_precision_large_values"]
    assert "float32" in message and "rsqrt" not in message


def correct_class():
    return EX.load(VARIANTS / "rmsnorm" / "correct" / "llama_style.py")["RMSNorm"]


def test_data_goes_through_the_channel_unchanged():
    data = EX.probe("values_match_reference", 5, correct_class())
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
    raise KeyError(name)


def test_made_up_data_of_the_right_form_is_rejected():
    """The checks that judged only the data's form or its outputs' relations with each other passed made-up data
    (2.73 of 8 for an empty answer, issue 20): each also compares the outputs with the reference now."""
    for name in ("scale_invariant", "normalises_each_position_separately", "float32_and_float64_kept",
                 "input_left_unchanged"):
        assert EX.judge(name, _identity_data(name, 11), 11) is not None, name
        assert EX.judge(name, EX.probe(name, 11, correct_class()), 11) is None, name
