import torch


def weighted_loss(out):
    """The training loss of this notebook: the outputs weighted by fixed random numbers, averaged.

    The weights are drawn from seed 0 for the shape of `out` (the same weights on every call), on the CPU, then
    moved to `out`'s device and dtype. Why not `out.pow(2).mean()`: after a LayerNorm with its initial scale and
    shift every token's output has mean 0 and variance 1 whatever its input, so the mean of its squares is (almost
    exactly) 1 and almost no gradient reaches the layers below.
    """
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(0))
    return (out * weights.to(device=out.device, dtype=out.dtype)).mean()
