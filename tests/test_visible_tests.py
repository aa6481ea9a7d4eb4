"""The visible tests teach: they pass every correct answer, and the common mistakes fail them with a message that
names the mistake.

A student sees only the visible part of each graded cell (the hidden-test region is gone in release/). These tests
run that visible code, as the student's notebook would (see visible_harness.py), against the answer variants of
autograder/variants/: every correct variant and the reference solution must pass every visible test (a visible test
must never stop a correct answer), and each wrong variant listed in CAUGHT, the common mistakes, must fail the named
cell's visible test with a message containing the given words. The hidden checks still decide the grade
(tests/test_checks_*.py); wrong variants not listed here are left to them.
"""
from __future__ import annotations

import warnings

import pytest
import torch
from visible_harness import graded_cells_of, solution_cells, visible_results

from autograder.variants import HERE as VARIANTS
from autograder.variants import mistake, variant_paths

NOTEBOOK_OF = {"decoder": "01_decoder_block", "checkpointing": "02_gradient_checkpointing", "rmsnorm": "03_rmsnorm",
               "kv_cache": "04_tiny_language_model"}

# The common mistakes: variant -> (the graded cell whose visible test must fail, words its message must contain).
CAUGHT = {
    # 1a
    "decoder/wrong/masks_causal_blocked_convention": ("test_causal_mask", "polarity"),
    "decoder/wrong/masks_causal_upper": ("test_causal_mask", "polarity"),
    "decoder/wrong/masks_causal_no_diagonal": ("test_causal_mask", "diagonal"),
    "decoder/wrong/masks_causal_float": ("test_causal_mask", "bool"),
    "decoder/wrong/masks_causal_4d": ("test_causal_mask", "shape"),
    "decoder/wrong/masks_padding_true_is_pad": ("test_padding_mask", "False at the padding"),
    "decoder/wrong/masks_padding_off_by_one": ("test_padding_mask", "False at the padding"),
    "decoder/wrong/masks_padding_2d": ("test_padding_mask", "shape"),
    "decoder/wrong/masks_padding_long_dtype": ("test_padding_mask", "bool"),
    "decoder/wrong/masks_padding_default_batch_size": ("test_padding_mask", "largest length"),
    # 1b
    "decoder/wrong/block_post_norm": ("test_block_values", "post-norm"),
    "decoder/wrong/block_final_norm": ("test_block_values", "residual stream itself went through a LayerNorm"),
    "decoder/wrong/block_residual_around_norm": ("test_block_values", "residual stream itself went through a LayerNorm"),
    "decoder/wrong/block_encoder_output_normed": ("test_block_values", "normalises encoder_output"),
    "decoder/wrong/block_cross_attends_to_x": ("test_block_values", "encoder_output"),
    "decoder/wrong/block_missing_residual_cross": ("test_block_values", "residual connection is missing"),
    "decoder/wrong/block_missing_residual_ffn": ("test_block_values", "residual connection is missing"),
    "decoder/wrong/block_in_place_residual": ("test_block_values", "residual"),
    "decoder/wrong/block_self_mask_ignored": ("test_block_masking", "is self_mask passed"),
    "decoder/wrong/block_mask_polarity_inverted": ("test_block_masking", "must not see later positions"),
    "decoder/wrong/block_cross_mask_ignored": ("test_block_masking", "is cross_mask passed"),
    "decoder/wrong/block_causal_cross_attention": ("test_block_masking", "every real source token"),
    "decoder/wrong/block_builds_causal_mask": ("test_block_masking", "exactly the masks it is given"),
    "decoder/wrong/block_d_ff_default_2048": ("test_block_api", "parameters"),
    "decoder/wrong/block_shared_attention": ("test_block_api", "parameters"),
    "decoder/wrong/block_shared_norm": ("test_block_api", "parameters"),
    "decoder/wrong/block_relu": ("test_block_api", "nn.GELU"),
    "decoder/wrong/block_ffn_no_dropout": ("test_block_api", "nn.Dropout"),
    "decoder/wrong/block_functional_dropout_always_on": ("test_block_training", "dropout must be off"),
    # 2a
    "checkpointing/wrong/encoder_post_norm": ("test_encoder_structure", "post-norm"),
    "checkpointing/wrong/encoder_final_norm_not_applied": ("test_encoder_structure", "final_norm is not applied"),
    "checkpointing/wrong/encoder_final_norm_missing": ("test_encoder_structure", "final_norm"),
    "checkpointing/wrong/encoder_default_d_ff_2048": ("test_encoder_structure", "4 * d_model"),
    "checkpointing/wrong/encoder_mask_dropped": ("test_encoder_gradients", "with a mask"),
    "checkpointing/wrong/encoder_reentrant": ("test_encoder_gradients", "use_reentrant=False"),
    "checkpointing/wrong/encoder_reentrant_always": ("test_encoder_gradients", "use_reentrant=False"),
    "checkpointing/wrong/encoder_no_rng_preservation": ("test_encoder_gradients", "preserve_rng_state"),
    "checkpointing/wrong/encoder_whole_stack_one_region": ("test_encoder_recomputation", "one checkpointed region"),
    "checkpointing/wrong/encoder_sequential_one_segment": ("test_encoder_recomputation", "expected [0, 1, 1, 0]"),
    "checkpointing/wrong/encoder_sequential_per_layer": ("test_encoder_recomputation", "expected [0, 1, 1, 0]"),
    "checkpointing/wrong/encoder_checkpoints_only_feed_forward": ("test_encoder_recomputation", "nothing was recomputed"),
    "checkpointing/wrong/encoder_checkpoints_in_eval": ("test_encoder_recomputation", "eval mode"),
    "checkpointing/wrong/encoder_ignores_use_checkpointing": ("test_encoder_memory", "lower the peak"),
    # 2b
    "checkpointing/wrong/measure_forward_only": ("test_measure", "backward pass"),
    "checkpointing/wrong/measure_grads_not_cleared_first": ("test_measure", "cleared before you measure"),
    "checkpointing/wrong/measure_saved_tensors": ("test_measure", "peaks at"),
    "checkpointing/wrong/measure_mebibytes": ("test_measure", "in bytes"),
    "checkpointing/wrong/measure_milliseconds": ("test_measure", "in seconds"),
    "checkpointing/wrong/measure_grads_left_behind": ("test_measure", "still hold a gradient"),
    # 2c
    "checkpointing/wrong/segments_no_final_norm": ("test_segments", "same function"),
    "checkpointing/wrong/segments_drops_the_tail": ("test_segments", "the last (shorter) segment too"),
    "checkpointing/wrong/segments_checkpoint_sequential": ("test_segments", "the mask"),
    "checkpointing/wrong/segments_last_segment_plain": ("test_segments", "the last one too, is a checkpointed region"),
    "checkpointing/wrong/segments_k_segments": ("test_segments", "segment of 1 layer(s)"),
    "checkpointing/wrong/segments_peaks_zero_based": ("test_peak_by_k", "keys"),
    "checkpointing/wrong/segments_peaks_grads_accumulate": ("test_peak_by_k", "gradients cleared"),
    "checkpointing/wrong/segments_peaks_per_layer_model": ("test_peak_by_k", "checkpoint_every(model, x, k)"),
    # 3a
    "rmsnorm/wrong/layernorm": ("test_rmsnorm_basics", "square root of the mean of its squares"),
    "rmsnorm/wrong/std_not_rms": ("test_rmsnorm_basics", "square root of the mean of its squares"),
    "rmsnorm/wrong/first_dim": ("test_rmsnorm_basics", "each row"),
    "rmsnorm/wrong/eps_outside_sqrt": ("test_rmsnorm_basics", "inside the square root"),
    "rmsnorm/wrong/no_eps": ("test_rmsnorm_basics", "inside the square root"),
    "rmsnorm/wrong/wrong_default_eps": ("test_rmsnorm_basics", "default 1e-6"),
    "rmsnorm/wrong/functional_default_eps": ("test_rmsnorm_basics", "default 1e-6"),
    "rmsnorm/wrong/in_place": ("test_rmsnorm_basics", "changed its input"),
    "rmsnorm/wrong/with_bias": ("test_rmsnorm_parameters", "learnable numbers"),
    "rmsnorm/wrong/scale_not_parameter": ("test_rmsnorm_parameters", "learnable numbers"),
    "rmsnorm/wrong/scale_random_init": ("test_rmsnorm_parameters", "initialised to ones"),
    "rmsnorm/wrong/scale_before_norm": ("test_rmsnorm_parameters", "after normalising"),
    "rmsnorm/wrong/detached_scale": ("test_rmsnorm_parameters", "require grad"),
    "rmsnorm/wrong/no_grad_forward": ("test_rmsnorm_parameters", "torch.no_grad()"),
    "rmsnorm/wrong/returns_float32": ("test_rmsnorm_dtypes", "float16 output"),
    "rmsnorm/wrong/lab_solution_unchanged": ("test_rmsnorm_dtypes", "float16 output"),
    "rmsnorm/wrong/half_precision_statistic": ("test_rmsnorm_dtypes", "overflows float16"),
    # 4a
    # 04 (4b): a wrong cached step shows in the logits against a fresh call on the same tokens; the call pattern
    # of the first layer's attention shows a missing or unused cache; the grad mode is checked after the call
    "kv_cache/wrong/positions_restart_at_zero": ("test_generate_values", "the cached steps compute is wrong"),
    "kv_cache/wrong/keys_values_swapped": ("test_generate_values", "the cached steps compute is wrong"),
    "kv_cache/wrong/new_query_mask_tril": ("test_generate_values", "the cached steps compute is wrong"),
    "kv_cache/wrong/position_off_by_one": ("test_generate_values", "the cached steps compute is wrong"),
    "kv_cache/wrong/prefill_without_causal_mask": ("test_generate_values", "differ from those of a fresh call"),
    "kv_cache/wrong/samples_instead_of_argmax": ("test_generate_values", "argmax"),
    "kv_cache/wrong/one_token_short": ("test_generate_values", "shape"),
    "kv_cache/wrong/gradients_enabled": ("test_generate_cache", "torch.no_grad()"),
    "kv_cache/wrong/gradients_left_off": ("test_generate_cache", "switches them back on"),
    "kv_cache/wrong/recompute_without_cache": ("test_generate_cache", "one query, the newest token"),
    "kv_cache/wrong/cache_not_updated": ("test_generate_cache", "one more cached key"),
}

CORRECT = [path for exercise in NOTEBOOK_OF for path in variant_paths(exercise, "correct")]


def _name(path) -> str:
    return path.relative_to(VARIANTS).with_suffix("").as_posix()


def _results(exercise: str, code: str, grade_id: str | None = None) -> dict[str, str | None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.set_num_threads(1)  # small tensors: threads only add contention on a loaded machine
        return visible_results(NOTEBOOK_OF[exercise], code, grade_id)


@pytest.mark.parametrize("notebook", sorted(NOTEBOOK_OF.values()))
def test_reference_solution_passes_every_visible_test(notebook):
    for cell in solution_cells(notebook):
        exercise = next(e for e, nb in NOTEBOOK_OF.items() if nb == notebook)
        results = _results(exercise, cell.code, cell.grade_id)  # {} for an ungraded exercise (3b)
        assert all(failure is None for failure in results.values()), (cell.grade_id, results)


def test_every_graded_cell_has_a_visible_test_that_can_fail():
    for notebook in NOTEBOOK_OF.values():
        for cell in solution_cells(notebook):
            for test in graded_cells_of(notebook, cell.grade_id):
                assert "assert" in test.code, f"{notebook}: {test.grade_id} has no visible assert"


@pytest.mark.parametrize("path", CORRECT, ids=_name)
def test_correct_variant_passes_every_visible_test(path):
    exercise = _name(path).split("/")[0]
    results = _results(exercise, path.read_text())
    failed = {cell: failure for cell, failure in results.items() if failure}
    assert not failed, f"a visible test fails a correct answer ({_name(path)}): {failed}"


@pytest.mark.parametrize("name", sorted(CAUGHT))
def test_common_mistake_fails_a_visible_test_that_names_it(name):
    cell, words = CAUGHT[name]
    path = VARIANTS / f"{name}.py"
    results = _results(name.split("/")[0], path.read_text())
    assert cell in results, f"{cell} does not test the cell {name} answers: {sorted(results)}"
    failure = results[cell]
    assert failure, f"the visible tests of {cell} pass this mistake: {mistake(path)}"
    assert failure.startswith("AssertionError"), f"{cell} fails it with an error, not a message: {failure}"
    assert words in failure, f"{cell}'s message does not name the mistake ({words!r}): {failure}"


def test_caught_lists_only_wrong_variants_that_exist():
    for name in CAUGHT:
        assert "/wrong/" in name and (VARIANTS / f"{name}.py").is_file(), name
