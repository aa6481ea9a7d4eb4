"""The decoder-block hidden checks pass every correct answer and fail every realistic wrong one.

The notebook has two solution cells, so a variant file answers one of them: `masks_*.py` the mask helpers (1a,
`decoder_masks_impl`), `block_*.py` the block (1b, `decoder_block_impl`), and `lab_solution.py`, the lab's own
decoder block, answers 1b too. Block variants use the provided
MultiHeadAttention without defining it, as a student's cell does; `load` puts it in their namespace.
"""
import re
from functools import lru_cache
from pathlib import Path

import pytest
import torch
from torch import nn
from check_harness import reference_namespace, variants

from autograder.checks import decoder
from autograder.checks._core import CheckFailed
from autograder.judges import _block as judge_block
from autograder.paths import REPO, SOURCE, ASSIGNMENT
from autograder.variants import load_variant, mistake

NOTEBOOK = "01_decoder_block"
ALL_CHECKS = list(decoder.GROUPS.checks)
CELL_GROUPS = {  # what each variant kind answers, and the name each group is called with
    "masks": {"causal_mask": "causal_mask", "padding_mask": "padding_mask"},
    "block": {group: "TransformerDecoderBlock" for group in ("api", "values", "masking", "training")},
}
WRONG = variants("decoder", "wrong")
CORRECT = variants("decoder", "correct")


@lru_cache(maxsize=None)
def provided_attention() -> type:
    namespace: dict = {"__name__": "__provided__"}
    path = REPO / "autograder" / "provided" / "attention.py"
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace["MultiHeadAttention"]


def kind(path: Path) -> str:
    if path.stem == "lab_solution":  # the lab's own block, named like every exercise's lab_solution.py
        return "block"
    return path.stem.split("_", 1)[0]


def load(path: Path) -> dict:
    """A variant's namespace, run as in the notebook: after the provided MultiHeadAttention cell."""
    return load_variant(path, {"MultiHeadAttention": provided_attention()})


def failures(namespace: dict, cell: str) -> dict[str, str]:
    failed = {}
    for group, name in CELL_GROUPS[cell].items():
        failed.update(decoder.GROUPS.failures(decoder.GROUPS.groups[group], namespace[name]))
    return failed


@lru_cache(maxsize=None)
def variant_failures(path: Path) -> dict[str, str]:
    return failures(load(path), kind(path))


def checks_of(cell: str) -> set[str]:
    return {name for group in CELL_GROUPS[cell] for name in decoder.GROUPS.groups[group]}


def test_variant_files_name_their_cell():
    for path in WRONG + CORRECT:
        assert kind(path) in CELL_GROUPS, f"{path.name}: name it masks_*.py or block_*.py"


def test_reference_solution_passes_every_check():
    namespace = reference_namespace(NOTEBOOK, "decoder_block_impl")
    assert failures(namespace, "masks") == {}
    assert failures(namespace, "block") == {}


@pytest.mark.parametrize("path", CORRECT, ids=lambda p: p.stem)
def test_correct_variant_passes_every_check(path):
    assert variant_failures(path) == {}


def test_the_lab_solution_is_a_correct_variant():
    """The lab's own decoder block keeps full marks (issue 11): it is among the correct variants, so the test
    above runs every check of 1b on it."""
    lab = [path for path in CORRECT if path.stem == "lab_solution"]
    assert lab and kind(lab[0]) == "block"
    assert variant_failures(lab[0]) == {}


@pytest.mark.parametrize("path", WRONG, ids=lambda p: p.stem)
def test_wrong_variant_fails_a_check(path):
    assert variant_failures(path), f"no check catches: {mistake(path)}"


def test_every_check_rejects_some_wrong_variant():
    """A check that no wrong implementation fails is not a check."""
    caught = set()
    for path in WRONG:
        caught |= set(variant_failures(path))
    assert set(ALL_CHECKS) - caught == set()


def test_every_check_is_in_a_graded_group():
    grouped = [name for names in decoder.GROUPS.groups.values() for name in names]
    assert sorted(grouped) == sorted(ALL_CHECKS)
    assert set(decoder.GROUPS.groups) == {group for groups in CELL_GROUPS.values() for group in groups}


def test_every_group_is_run_by_one_hidden_test_cell():
    text = (SOURCE / ASSIGNMENT / f"{NOTEBOOK}.py").read_text()
    run = re.findall(r'_checks\.GROUPS\.run\("(\w+)", (\w+)\)', text)
    assert sorted(group for group, _ in run) == sorted(decoder.GROUPS.groups)
    for group, argument in run:
        cell = "masks" if group in CELL_GROUPS["masks"] else "block"
        assert CELL_GROUPS[cell][group] == argument


def test_failure_messages_say_what_is_wrong_without_the_answer():
    wrong = WRONG[0].parent
    failed = failures(load(wrong / "masks_causal_blocked_convention.py"), "masks")
    assert "LATER" in failed["causal_mask_polarity"] and "tril" not in failed["causal_mask_polarity"]
    failed = failures(load(wrong / "block_self_mask_ignored.py"), "block")
    assert "earlier position" in failed["self_attention_is_causal"]


def test_checks_leave_the_global_random_state_and_threads_alone():
    """A hidden test must not change what the student's later cells draw, nor how many threads they use."""
    namespace = reference_namespace(NOTEBOOK, "decoder_block_impl")
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    failures(namespace, "block")
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


def test_a_crashing_submission_is_reported_not_raised():
    class Broken(nn.Module):
        def __init__(self, d_model, num_heads, d_ff=None, dropout=0.1):
            super().__init__()
            raise RuntimeError("boom")

    failed = failures({"TransformerDecoderBlock": Broken}, "block")
    assert set(failed) == checks_of("block")
    assert all("RuntimeError: boom" in msg for msg in failed.values())


def test_the_release_stub_fails_every_check():
    """The untouched release notebook's answers (`raise NotImplementedError()`) score nothing."""

    def causal_mask(T):
        raise NotImplementedError()

    def padding_mask(lengths, max_len=None):
        raise NotImplementedError()

    class TransformerDecoderBlock(nn.Module):
        def __init__(self, d_model, num_heads, d_ff=None, dropout=0.1):
            super().__init__()
            raise NotImplementedError()

    namespace = {"causal_mask": causal_mask, "padding_mask": padding_mask,
                 "TransformerDecoderBlock": TransformerDecoderBlock}
    assert set(failures(namespace, "masks")) == checks_of("masks")
    assert set(failures(namespace, "block")) == checks_of("block")


def test_dropout_replay_matches_the_provided_attention():
    """`dropout_exactly_where_stated` replays the provided MultiHeadAttention, dropout draws included: if
    autograder/provided/attention.py changes how it computes or draws, this fails before the check misjudges."""
    attention = provided_attention()(16, 2, dropout=0.3).train()
    query, kv = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    mask = decoder._padding([7, 3], 7)
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        expected = attention(query, kv, kv, mask)
        torch.manual_seed(5)
        replayed = judge_block._mha_reference(attention, query, kv, mask, 2, 0.3, True)
    assert torch.allclose(replayed, expected, rtol=1e-5, atol=1e-6)


# --- judged outside the kernel: seeds, forged and replayed data ------------------------------------------------------------

MASK_SEEDS = [3, 2**61 + 7]


def test_every_probe_has_a_judge():
    """Every point is decided outside the student's kernel (issues 12, 20)."""
    assert decoder.GROUPS.judges().missing() == []


@pytest.mark.parametrize("seed", MASK_SEEDS)
@pytest.mark.parametrize("path", [p for p in WRONG + CORRECT if kind(p) == "masks"], ids=lambda p: p.stem)
def test_mask_outcomes_do_not_depend_on_the_seed(path, seed):
    namespace = load(path)
    failed = set()
    for group, name in CELL_GROUPS["masks"].items():
        failed |= set(decoder.GROUPS.failures(decoder.GROUPS.groups[group], namespace[name], seed=seed))
    assert failed == set(variant_failures(path))


def test_padding_masks_recorded_for_another_seed_are_rejected():
    from autograder.checks._wire import roundtrip
    padding_mask = load(next(p for p in CORRECT if p.stem == "masks_arange"))["padding_mask"]
    check = decoder.GROUPS.checks["padding_mask_polarity"]
    recorded = roundtrip(check.run_probe((padding_mask,), seed=11))
    judge("padding_mask_polarity", recorded, 11)
    with pytest.raises(CheckFailed):
        judge("padding_mask_polarity", recorded, 12)


# --- the block's checks: other seeds, forged data ---------------------------------------------------------------

BLOCK_SEED = 2**61 + 7  # a grading seed (the _stream mixing path), large like the grader's draws
BLOCK = [p for p in WRONG + CORRECT if kind(p) == "block"]


def block_failures(path: Path, seed: int) -> dict[str, str]:
    namespace = load(path)
    failed = {}
    for group, name in CELL_GROUPS["block"].items():
        failed.update(decoder.GROUPS.failures(decoder.GROUPS.groups[group], namespace[name], seed=seed))
    return failed


# A mistake of the size of the tolerances: LayerNorm's eps 1e-6 instead of 1e-5 changes outputs by about 1e-5, so
# besides the check made to see it (inputs of size 1e-3) it fails one or two others for some draws only.
TOLERANCE_SIZED = {"block_layernorm_eps_1e6": {"matches_torch_decoder_layer"}}


@pytest.mark.parametrize("path", BLOCK, ids=lambda p: p.stem)
def test_block_outcomes_hold_for_a_grading_seed(path):
    """A grading run draws its own seed: correct blocks still pass everything, and a wrong block still fails
    every check it fails at seed 0."""
    failed = set(block_failures(path, BLOCK_SEED))
    if path in CORRECT:
        assert failed == set()
    else:
        assert failed >= TOLERANCE_SIZED.get(path.stem, set(variant_failures(path)))


def lab_block() -> type:
    return load(next(p for p in CORRECT if p.stem == "lab_solution"))["TransformerDecoderBlock"]


def probe_data(name: str, cls: type, seed: int) -> dict:
    from autograder.checks._wire import roundtrip
    return roundtrip(decoder.GROUPS.checks[name].run_probe((cls,), seed=seed))


def judge(name: str, data: dict, seed: int) -> None:
    """Raise CheckFailed with the judge's message unless it passes `data`."""
    message = decoder.GROUPS.judges().verdict(name, data, seed)
    if message is not None:
        raise CheckFailed(message)


BLOCK_REPLAYED = ["matches_torch_decoder_layer", "self_attention_is_causal", "padded_source_positions_ignored",
                  "every_real_source_position_matters", "every_parameter_and_input_gets_a_gradient",
                  "dropout_exactly_where_stated", "eval_mode_is_deterministic"]


@pytest.mark.parametrize("name", BLOCK_REPLAYED)
def test_block_data_recorded_for_another_seed_is_rejected(name):
    """Data a correct block produced in another grading run (other weights, other inputs) is replayed."""
    recorded = probe_data(name, lab_block(), seed=11)
    judge(name, recorded, 11)
    with pytest.raises(CheckFailed):
        judge(name, recorded, 12)


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
    from autograder.checks import _wire
    for group in CELL_GROUPS["block"]:
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
