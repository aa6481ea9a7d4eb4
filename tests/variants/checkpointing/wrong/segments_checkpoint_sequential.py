# uses checkpoint_sequential(layers, ceil(L / k), x): its last segment is not checkpointed and the mask is dropped
import torch
from torch.utils.checkpoint import checkpoint_sequential


def checkpoint_every(model, x, k, mask=None):
    num_segments = -(-len(model.layers) // k)
    return model.final_norm(checkpoint_sequential(model.layers, num_segments, x, use_reentrant=False))


def peak_by_k(model, x):
    model.train()
    peaks = {}
    for k in range(1, len(model.layers) + 1):
        model.zero_grad(set_to_none=True)
        with PeakMemory(x.device) as meter:
            weighted_loss(checkpoint_every(model, x, k)).backward()
        peaks[k] = meter.peak_bytes
    model.zero_grad(set_to_none=True)
    return peaks
