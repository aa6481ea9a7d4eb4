# splits the layers into k segments instead of segments of k layers
import torch
from torch.utils.checkpoint import checkpoint


def checkpoint_every(model, x, k, mask=None):
    layers = list(model.layers)

    def run_segment(segment):
        def run(h, mask):
            for layer in segment:
                h = layer(h, mask)
            return h

        return run

    size = -(-len(layers) // k)
    for start in range(0, len(layers), size):
        x = checkpoint(run_segment(layers[start:start + size]), x, mask, use_reentrant=False)
    return model.final_norm(x)


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
