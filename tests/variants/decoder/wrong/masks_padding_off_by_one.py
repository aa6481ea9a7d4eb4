# padding_mask uses <= : one padding position per sentence counts as real
import torch


def causal_mask(T):
    return torch.ones(T, T, dtype=torch.bool).tril()


def padding_mask(lengths, max_len=None):
    if max_len is None:
        max_len = int(lengths.max())
    positions = torch.arange(max_len, device=lengths.device)
    return (positions[None, :] <= lengths[:, None])[:, None, None, :]
