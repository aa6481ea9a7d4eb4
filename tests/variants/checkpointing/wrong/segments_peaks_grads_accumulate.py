# peak_by_k never clears the gradients: every k after the first adds into old ones
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

    for start in range(0, len(layers), k):
        x = checkpoint(run_segment(layers[start:start + k]), x, mask, use_reentrant=False)
    return model.final_norm(x)


def peak_by_k(model, x):
    model.train()
    peaks = {}
    for k in range(1, len(model.layers) + 1):
        with PeakMemory(x.device) as meter:
            weighted_loss(checkpoint_every(model, x, k)).backward()
        peaks[k] = meter.peak_bytes
    return peaks
