# both masks by comparing aranges; padding_mask via view
import torch


def causal_mask(T):
    idx = torch.arange(T)
    return idx[None, :] <= idx[:, None]


def padding_mask(lengths, max_len=None):
    max_len = max_len if max_len is not None else lengths.max().item()
    mask = torch.arange(max_len).unsqueeze(0) < lengths.unsqueeze(1)
    return mask.view(len(lengths), 1, 1, max_len)
