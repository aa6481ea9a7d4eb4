# causal_mask returns shape (1, 1, T, T) instead of the stated (T, T)
import torch


def causal_mask(T):
    return torch.ones(T, T, dtype=torch.bool).tril()[None, None]


def padding_mask(lengths, max_len=None):
    if max_len is None:
        max_len = int(lengths.max())
    positions = torch.arange(max_len, device=lengths.device)
    return (positions[None, :] < lengths[:, None])[:, None, None, :]
