# causal_mask is upper-triangular: positions attend to the future, not the past
import torch


def causal_mask(T):
    return torch.ones(T, T, dtype=torch.bool).triu()


def padding_mask(lengths, max_len=None):
    if max_len is None:
        max_len = int(lengths.max())
    positions = torch.arange(max_len, device=lengths.device)
    return (positions[None, :] < lengths[:, None])[:, None, None, :]
