"""The KV-cache hidden checks (4b): what is particular to them. The rest is in tests/test_checks.py.

The checks build their own small models (parts only, no forward), so nothing here depends on training or on 4a.
"""
import pytest
import torch
from check_harness import exercise

from lab.checks import kv_cache
from autograder.paths import VARIANTS

EX = exercise("kv_cache")
FOLDER = VARIANTS / "kv_cache"


def wrong(stem):
    return EX.load(FOLDER / "wrong" / f"{stem}.py")["generate"]


def failures(generate):
    return EX.failures({"generate": generate})


def test_the_witness_names_the_likely_mistake():
    message = failures(wrong("recompute_without_cache"))["each_position_projected_once"]
    assert "recomputed" in message and "row by row" in message and "torch.cat" not in message
    message = failures(wrong("gradients_enabled"))["gradients_off_while_generating_and_on_after"]
    assert "no_grad" in message
    message = failures(wrong("gradients_left_off"))["gradients_off_while_generating_and_on_after"]
    assert "still off" in message


def test_the_drift_is_what_catches_recomputation():
    """On the same model without drift, decoding without a cache passes: the drift is the only witness."""
    generate, reference = wrong("recompute_without_cache"), EX.reference["generate"]
    for case in kv_cache.CASES:
        model, start = kv_cache.case_model(0, case, False), kv_cache.case_prompt(0, case, False)
        _, cached = reference(model, start, case[-1])
        _, recomputed = generate(kv_cache.case_model(0, case, False), start, case[-1])
        assert torch.allclose(cached, recomputed, rtol=1e-4, atol=1e-5)


def test_probe_models_have_no_forward():
    """Nothing in the kernel computes the block: the probe models are parts only (4a's answer is not there)."""
    model = kv_cache.build_model(0)
    with pytest.raises(RuntimeError, match="no forward"):
        model(torch.zeros(1, 2, dtype=torch.long))
    with pytest.raises(RuntimeError, match="no forward"):
        model.layers[0](torch.zeros(1, 2, 16))


def test_wrong_answers_leave_the_global_rng_and_grad_mode_alone():
    """A generate that samples from the global generator, or leaves gradients off, must not change the student's
    later results through the checks."""
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    failures(wrong("samples_instead_of_argmax"))
    failures(wrong("gradients_left_off"))
    assert torch.equal(torch.rand(3), expected)
    assert torch.is_grad_enabled()


def test_uncached_data_cannot_pass_the_drift_check_by_replaying_values():
    """The values check's data (recorded on ordinary models) is not the drift check's: a generate without a cache
    cannot pass the drift check by reporting what it computed for the values group."""
    recorded = EX.probe("step_logits_match_teacher_forcing", 3, wrong("recompute_without_cache"))
    assert EX.judge("each_position_projected_once", recorded, 3) is not None
