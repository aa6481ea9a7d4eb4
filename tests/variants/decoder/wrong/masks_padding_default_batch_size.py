# max_len defaults to the batch size (len(lengths)) instead of the largest length
import torch


def causal_mask(T):
    return torch.ones(T, T, dtype=torch.bool).tril()


def padding_mask(lengths, max_len=None):
    if max_len is None:
        max_len = len(lengths)
    positions = torch.arange(max_len, device=lengths.device)
    return (positions[None, :] < lengths[:, None])[:, None, None, :]
