"""The decoder-block hidden checks (1a masks, 1b the block): what is particular to them. The rest (every variant,
seed, replay, garbage) is in tests/test_checks.py; a variant answers the cell whose names it defines (`masks_*.py`
the mask helpers, `block_*.py` and `lab_solution.py` the block).
"""
from functools import lru_cache

import pytest
import torch
from check_harness import exercise
from torch import nn

from lab.checks import decoder
from autograder.probing import CheckFailed
from lab.judges import _block as judge_block
from autograder.paths import REPO
from autograder.paths import VARIANTS

EX = exercise("decoder")
WRONG = EX.variants("wrong")
CORRECT = EX.variants("correct")


@lru_cache(maxsize=None)
def provided_attention() -> type:
    namespace: dict = {"__name__": "__provided__"}
    path = REPO / "lab" / "provided" / "attention.py"
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace["MultiHeadAttention"]


def load(path) -> dict:
    return EX.load(path)


def failures(namespace: dict, cell: str) -> dict[str, str]:
    groups = ["causal_mask", "padding_mask"] if cell == "masks" else ["api", "values", "masking", "training"]
    return EX.failures(namespace, groups=groups)


def test_failure_messages_say_what_is_wrong_without_the_answer():
    wrong = VARIANTS / "decoder" / "wrong"
    failed = failures(load(wrong / "masks_causal_blocked_convention.py"), "masks")
    assert "LATER" in failed["causal_mask_polarity"] and "tril" not in failed["causal_mask_polarity"]
    failed = failures(load(wrong / "block_self_mask_ignored.py"), "block")
    assert "earlier position" in failed["self_attention_is_causal"]


def test_dropout_replay_matches_the_provided_attention():
    """`dropout_exactly_where_stated` replays the provided MultiHeadAttention, dropout draws included: if
    lab/provided/attention.py changes how it computes or draws, this fails before the check misjudges."""
    attention = provided_attention()(16, 2, dropout=0.3).train()
    query, kv = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    mask = decoder._padding([7, 3], 7)
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        expected = attention(query, kv, kv, mask)
        torch.manual_seed(5)
        replayed = judge_block._mha_reference(attention, query, kv, mask, 2, 0.3, True)
    assert torch.allclose(replayed, expected, rtol=1e-5, atol=1e-6)


def lab_block() -> type:
    return load(next(p for p in CORRECT if p.stem == "lab_solution"))["TransformerDecoderBlock"]


def probe_data(name: str, cls: type, seed: int) -> dict:
    from autograder.wire import roundtrip
    return roundtrip(decoder.GROUPS.checks[name].run_probe((cls,), seed=seed))


def judge(name: str, data: dict, seed: int) -> None:
    """Raise CheckFailed with the judge's message unless it passes `data`."""
    message = decoder.GROUPS.judges().verdict(name, data, seed)
    if message is not None:
        raise CheckFailed(message)


def test_outputs_computed_with_other_weights_are_rejected():
    """Forged: the torch layer's outputs for the right inputs, but with weights other than those reported, e.g. a
    layer whose zero-initialised biases and unit LayerNorms hide a wrong order of operations."""
    data = probe_data("matches_torch_decoder_layer", lab_block(), seed=5)
    for case, case_data in zip(decoder.TORCH_CASES, data["cases"]):
        layer = nn.TransformerDecoderLayer(case.d_model, case.num_heads, case.d_ff, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True).double().eval()
        x, enc, _, _ = case.inputs(5)
        case_data["call"]["y"] = judge_block.torch_output(layer, x, enc, case.causal, case.lengths_t,
                                                      case.lengths_s).float()
    with pytest.raises(CheckFailed, match="values are wrong"):
        judge("matches_torch_decoder_layer", data, 5)


def test_weights_other_than_the_prescribed_ones_are_rejected():
    """Forged: a block randomised from another stream reports its own (other) weights with its matching
    outputs; or the reported weights are swapped between two layers."""
    data = probe_data("matches_torch_decoder_layer", lab_block(), seed=5)
    other = probe_data("matches_torch_decoder_layer", lab_block(), seed=6)
    data["cases"][0]["weights"] = other["cases"][0]["weights"]
    with pytest.raises(CheckFailed, match="weights the hidden test gave"):
        judge("matches_torch_decoder_layer", data, 5)
    data = probe_data("matches_torch_decoder_layer", lab_block(), seed=5)
    rows = data["cases"][0]["layout"]
    first, second = (i for i, row in enumerate(rows) if row[0] in ("norm1", "norm2"))
    rows[first], rows[second] = rows[second], rows[first]  # the layout claims norm2's values are norm1's
    with pytest.raises(CheckFailed):
        judge("matches_torch_decoder_layer", data, 5)


def test_made_up_property_data_is_rejected():
    """Forged: a non-causal block's outputs replaced by the inputs themselves (which are "causal"), or by zeros."""
    data = probe_data("self_attention_is_causal", lab_block(), seed=5)
    for result, inputs in zip(data["calls"], decoder._causal_inputs(5)):
        result["y"] = inputs[0].clone()
    with pytest.raises(CheckFailed, match="masked reference"):
        judge("self_attention_is_causal", data, 5)
    data = probe_data("padded_source_positions_ignored", lab_block(), seed=5)
    for result in data["calls"]:
        result["y"] = torch.zeros_like(result["y"])
    with pytest.raises(CheckFailed, match="masked reference"):
        judge("padded_source_positions_ignored", data, 5)


def test_gradients_must_be_computed():
    """Forged: non-zero gradients made up for a block whose forward is right (say, one with its encoder output
    detached): they must be the reference's."""
    data = probe_data("every_parameter_and_input_gets_a_gradient", lab_block(), seed=5)
    data["enc_grad"] = torch.ones_like(data["enc_grad"])
    with pytest.raises(CheckFailed, match="gradient of `encoder_output`"):
        judge("every_parameter_and_input_gets_a_gradient", data, 5)


def test_a_forged_layout_cannot_make_the_judge_draw_huge_tensors():
    for shapes in ([[10**6, 10**6]], [[10**10], [-(10**10)]]):  # a negative size must not offset a huge one
        data = probe_data("matches_torch_decoder_layer", lab_block(), seed=5)
        data["cases"][0]["layout"] += [["huge", "LayerNorm", shape, True] for shape in shapes]
        with pytest.raises(CheckFailed, match="too large"):
            judge("matches_torch_decoder_layer", data, 5)


def test_block_probe_data_is_small():
    """One group's data travels on one probe line of the cell's output (8 MB at most): keep it under 1 MB."""
    from autograder import wire as _wire
    for group in ("api", "values", "masking", "training"):
        data = {name: decoder.GROUPS.checks[name].run_probe((lab_block(),), seed=5)
                for name in decoder.GROUPS.groups[group]}
        assert len(_wire.encode(data)) < 1_000_000, group


# --- issue 20: ordinary code that imitates what the checks look for ----------------------------------------------

def _lab_namespace():
    return load(next(p for p in CORRECT if p.stem == "lab_solution"))


def test_a_non_causal_block_that_replays_its_outputs_loses_the_masking_points():
    """The block ignores self_mask and remembers its output at each position by the prefix it has seen: a later
    call whose prefix matches gets the remembered outputs, so that changing later positions seems to change nothing
    earlier. Only the values (the masked reference's) tell it apart."""
    Lab = lab_block()

    class Replaying(Lab):
        def forward(self, x, encoder_output, self_mask=None, cross_mask=None):
            y = super().forward(x, encoder_output, None, cross_mask).clone()
            memo = self.__dict__.setdefault("memo", {})
            for t in range(x.shape[1]):
                key = (x[:, :t + 1].numpy().tobytes(), encoder_output.numpy().tobytes())
                if key in memo:
                    y[:, t] = memo[key]
                else:
                    memo[key] = y[:, t].detach().clone()
            return y

    failed = decoder.GROUPS.failures(decoder.GROUPS.groups["masking"], Replaying)
    assert "self_attention_is_causal" in failed and "masked reference" in failed["self_attention_is_causal"]


def test_self_reported_structure_is_not_believed():
    """Classes named like the stated ones, and a parameters() that lists what a right block has, pass nothing:
    the attributes are judged by what they compute, the parameters by a gradient step on them."""
    Lab = lab_block()

    class LayerNorm(nn.Module):  # the right name and shape, RMSNorm's computation
        def __init__(self, d):
            super().__init__()
            self.normalized_shape = (d,)
            self.weight, self.bias = nn.Parameter(torch.ones(d)), nn.Parameter(torch.zeros(d))

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * self.weight + self.bias

    LayerNorm.__module__, LayerNorm.__qualname__ = "torch.nn.modules.normalization", "LayerNorm"

    class NamedLikeLayerNorm(Lab):
        def __init__(self, d_model, num_heads, d_ff=None, dropout=0.1):
            super().__init__(d_model, num_heads, d_ff, dropout)
            self.norm2 = LayerNorm(d_model)

    failed = decoder.GROUPS.failures(decoder.GROUPS.groups["api"], NamedLikeLayerNorm)
    assert "attributes_as_stated" in failed and "norm2" in failed["attributes_as_stated"]

    class ExtraBias(Lab):  # one parameter too many, hidden from parameters()
        def __init__(self, d_model, num_heads, d_ff=None, dropout=0.1):
            super().__init__(d_model, num_heads, d_ff, dropout)
            self.shift = nn.Parameter(torch.full((d_model,), 0.1))

        def parameters(self, recurse=True):
            return (p for p in super().parameters(recurse) if p is not self.shift)

        def forward(self, x, encoder_output, self_mask=None, cross_mask=None):
            return super().forward(x, encoder_output, self_mask, cross_mask) + self.shift

    failed = decoder.GROUPS.failures(["parameter_count"], ExtraBias)
    assert "parameter_count" in failed


def test_made_up_form_data_is_rejected():
    """Issue 20: checks that judged only the data's form passed made-up data: output shapes (zeros of the right
    shape), unchanged inputs (the inputs sent back as built), and, for a wrong forward, gradients (any non-zero
    tensors: a post-norm block under no_grad claimed gradients of ones, tests/adversarial/cases/
    decoder_forged_gradients.py). Each also compares the outputs with the reference now."""
    post_norm = load(next(p for p in WRONG if p.stem == "block_post_norm"))["TransformerDecoderBlock"]
    data = probe_data("output_shape_with_different_lengths", lab_block(), seed=5)
    judge("output_shape_with_different_lengths", data, 5)
    data["outputs"] = [torch.zeros_like(y) for y in data["outputs"]]
    with pytest.raises(CheckFailed, match="compared with the reference"):
        judge("output_shape_with_different_lengths", data, 5)
    data = probe_data("inputs_left_unchanged", post_norm, seed=5)
    data["after"] = [t.clone() if t is not None else None for t in decoder._unchanged_inputs(5)]
    with pytest.raises(CheckFailed, match="compared with the reference"):
        judge("inputs_left_unchanged", data, 5)
    data = probe_data("every_parameter_and_input_gets_a_gradient", post_norm, seed=5)
    data["grads"] = {name: torch.ones(1) for name in data["grads"]}
    data["x_grad"], data["enc_grad"] = torch.ones(1), torch.ones(1)
    with pytest.raises(CheckFailed, match="the block's output"):
        judge("every_parameter_and_input_gets_a_gradient", data, 5)
