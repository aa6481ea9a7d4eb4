"""Checks behind what the two lessons (notebooks/01_multi_head_attention, 02_transformer_block) claim.

- The course's MultiHeadAttention (lab/provided/attention.py, pasted into the lessons and the exercises)
  computes what F.scaled_dot_product_attention and nn.MultiheadAttention compute with the same weights, under
  causal, padding and cross-attention masks; a fully masked query row gives zero weights, not NaN.
- The lessons import nothing from the repository.
(That the committed lessons are what the build makes is tested in test_build.py; nbval runs them with outputs
compared as part of the test command, see pyproject.toml.)
"""
from __future__ import annotations

import math
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder.paths import LESSONS
from lab.provided.attention import MultiHeadAttention

LESSON_NAMES = ["01_multi_head_attention", "02_transformer_block"]


def _masks(batch=2, q_len=6, k_len=6, lengths=(6, 4), causal=True):
    """Course convention, True = may attend: a (batch, 1, q_len, k_len) mask and the key-is-real (batch, k_len)."""
    key_is_real = torch.arange(k_len)[None, :] < torch.tensor(lengths)[:, None]
    mask = key_is_real[:, None, None, :].expand(batch, 1, q_len, k_len)
    if causal:
        mask = mask & torch.tril(torch.ones(q_len, k_len, dtype=torch.bool))
    return mask, key_is_real


def _via_sdpa(mha, query, key, value, mask):
    q, k, v = mha.split_heads(mha.W_q(query)), mha.split_heads(mha.W_k(key)), mha.split_heads(mha.W_v(value))
    return mha.W_o(mha.merge_heads(F.scaled_dot_product_attention(q, k, v, attn_mask=mask)))


def _torch_mha_with_weights_of(mha):
    theirs = nn.MultiheadAttention(mha.d_model, mha.num_heads, dropout=0.0, batch_first=True)
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat([mha.W_q.weight, mha.W_k.weight, mha.W_v.weight]))
        theirs.in_proj_bias.copy_(torch.cat([mha.W_q.bias, mha.W_k.bias, mha.W_v.bias]))
        theirs.out_proj.weight.copy_(mha.W_o.weight)
        theirs.out_proj.bias.copy_(mha.W_o.bias)
    return theirs


@pytest.fixture
def mha():
    torch.manual_seed(0)
    return MultiHeadAttention(16, 4, dropout=0.0, keep_weights=True)


@pytest.mark.parametrize("causal", [True, False])
def test_self_attention_equals_sdpa(mha, causal):
    torch.manual_seed(1)
    x = torch.randn(2, 6, 16)
    mask, _ = _masks(causal=causal)
    assert torch.allclose(mha(x, x, x, mask=mask), _via_sdpa(mha, x, x, x, mask), atol=1e-6)


def test_no_mask_equals_sdpa(mha):
    torch.manual_seed(1)
    x = torch.randn(3, 5, 16)
    assert torch.allclose(mha(x, x, x), _via_sdpa(mha, x, x, x, None), atol=1e-6)


def test_cross_attention_other_length_equals_sdpa(mha):
    torch.manual_seed(1)
    target, source = torch.randn(2, 4, 16), torch.randn(2, 7, 16)
    mask, _ = _masks(q_len=4, k_len=7, lengths=(7, 3), causal=False)
    out = mha(target, source, source, mask=mask)
    assert out.shape == (2, 4, 16)
    assert torch.allclose(out, _via_sdpa(mha, target, source, source, mask), atol=1e-6)


def test_equals_nn_multihead_attention_with_flipped_masks(mha):
    torch.manual_seed(1)
    x = torch.randn(2, 6, 16)
    mask, key_is_real = _masks()
    causal = torch.tril(torch.ones(6, 6, dtype=torch.bool))
    theirs = _torch_mha_with_weights_of(mha)
    out, weights = theirs(x, x, x, attn_mask=~causal, key_padding_mask=~key_is_real, average_attn_weights=False)
    assert torch.allclose(mha(x, x, x, mask=mask), out, atol=1e-6)
    assert torch.allclose(mha.attn_weights, weights, atol=1e-6)


def test_passing_the_course_mask_unflipped_to_nn_mha_is_wrong(mha):
    """The lesson's warning: the two conventions are opposite, and mixing them up is silent."""
    torch.manual_seed(1)
    x = torch.randn(1, 6, 16)
    causal = torch.tril(torch.ones(6, 6, dtype=torch.bool))
    _, weights = _torch_mha_with_weights_of(mha)(x, x, x, attn_mask=causal, average_attn_weights=False)
    assert weights[0, :, 0, 1:].sum() > 0.5  # the first query attends to the future


def test_masked_keys_get_exactly_zero_weight(mha):
    torch.manual_seed(1)
    x = torch.randn(2, 6, 16)
    mask, _ = _masks()
    mha(x, x, x, mask=mask)
    assert torch.all(mha.attn_weights.masked_select(~mask.expand_as(mha.attn_weights)) == 0)
    assert torch.allclose(mha.attn_weights.sum(-1), torch.ones(2, 4, 6))


def test_fully_masked_row_gives_zero_weights_not_nan(mha):
    """Left padding + causal: query 0 of a left-padded sentence has no key it may attend to."""
    torch.manual_seed(1)
    x = torch.randn(1, 6, 16, requires_grad=True)
    left_padded = torch.tensor([[False, False, True, True, True, True]])
    mask = torch.tril(torch.ones(6, 6, dtype=torch.bool)) & left_padded[:, None, None, :]
    out = mha(x, x, x, mask=mask)
    assert not out.isnan().any()
    assert torch.all(mha.attn_weights[0, :, :2] == 0)                 # rows with no allowed key: all zero
    assert torch.allclose(mha.attn_weights[0, :, 2:].sum(-1), torch.ones(4, 4))
    assert torch.allclose(out[0, :2], mha.W_o.bias.expand(2, 16))      # attends to nothing: output is W_o's bias
    (out * torch.randn_like(out)).sum().backward()
    assert not x.grad.isnan().any()


def test_attention_weights_are_kept_only_when_asked(mha):
    """Keeping them is opt-in: a kept tensor outlives the step (exercise 2's checkpointing cannot free it)."""
    x = torch.randn(1, 3, 16)
    plain = MultiHeadAttention(16, 4, dropout=0.0)
    plain(x, x, x)
    assert plain.attn_weights is None
    plain.keep_weights = True
    plain(x, x, x)
    assert plain.attn_weights.shape == (1, 4, 3, 3)


def test_the_naive_minus_inf_softmax_gives_nan():
    """The trap the lesson shows: filling with -inf, a fully masked row is 0/0."""
    scores = torch.randn(2, 3).masked_fill(torch.tensor([[True, False, False], [False, False, False]]).logical_not(),
                                           float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    assert weights[1].isnan().all() and not weights[0].isnan().any()


def test_split_merge_round_trip_and_head_slices(mha):
    x = torch.randn(2, 5, 16)
    split = mha.split_heads(x)
    assert split.shape == (2, 4, 5, 4)
    assert torch.equal(split[:, 1], x[..., 4:8])  # head 1 sees features 4..7 of every token
    assert torch.equal(mha.merge_heads(split), x)


def test_parameter_count(mha):
    assert sum(p.numel() for p in mha.parameters()) == 4 * (16 * 16 + 16)


def test_attention_weights_are_softmax_of_scores_over_sqrt_d_k(mha):
    """The lesson's 1/sqrt(d_k): the provided class's weights are softmax(Q K^T / sqrt(d_k)), per head."""
    x = torch.randn(2, 5, 16)
    mha.eval()
    mha(x, x, x)
    q = mha.split_heads(mha.W_q(x))
    k = mha.split_heads(mha.W_k(x))
    expected = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(mha.d_k), dim=-1)
    assert torch.allclose(mha.attn_weights, expected, atol=1e-6)


def test_dropout_only_in_training(mha):
    torch.manual_seed(0)
    with_dropout = MultiHeadAttention(16, 4, dropout=0.5)
    x = torch.randn(2, 6, 16)
    with_dropout.train()
    assert not torch.equal(with_dropout(x, x, x), with_dropout(x, x, x))
    with_dropout.eval()
    assert torch.equal(with_dropout(x, x, x), with_dropout(x, x, x))


@pytest.mark.parametrize("name", LESSON_NAMES)
def test_lesson_imports_nothing_from_the_repository(name):
    text = (LESSONS / f"{name}.py").read_text()
    assert "import autograder" not in text and "from autograder" not in text
