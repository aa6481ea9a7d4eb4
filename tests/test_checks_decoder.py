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
from check_harness import reference_namespace, variants

from autograder.checks import decoder
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
    class Broken(decoder.nn.Module):
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

    class TransformerDecoderBlock(decoder.nn.Module):
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
        replayed = decoder._mha_reference(attention, query, kv, mask, 2, 0.3, True)
    assert torch.allclose(replayed, expected, rtol=1e-5, atol=1e-6)


# --- the mask helpers are judged outside the kernel ------------------------------------------------------------

MASK_SEEDS = [3, 2**61 + 7]


def test_mask_checks_are_judged_and_block_checks_guarded():
    mask_checks = checks_of("masks")
    assert all(decoder.GROUPS.checks[name].judged for name in mask_checks)
    assert not any(decoder.GROUPS.checks[name].judged for name in checks_of("block"))


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
    check.run_judge(recorded, 11)
    with pytest.raises(decoder.CheckFailed):
        check.run_judge(recorded, 12)
