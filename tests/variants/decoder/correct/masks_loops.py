# plain Python loops, and the causal mask as the negation of the blocked upper triangle
import torch


def causal_mask(T):
    return ~torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)


def padding_mask(lengths, max_len=None):
    if max_len is None:
        max_len = max(int(n) for n in lengths)
    mask = torch.zeros(len(lengths), 1, 1, max_len, dtype=torch.bool)
    for b, n in enumerate(lengths):
        mask[b, 0, 0, : int(n)] = True
    return mask
