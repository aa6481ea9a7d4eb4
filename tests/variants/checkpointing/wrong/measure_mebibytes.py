# returns the peak in MiB instead of bytes
import time

import torch


def train_step_cost(model, x, use_checkpointing):
    def step():
        weighted_loss(model(x, use_checkpointing=use_checkpointing)).backward()

    def sync():
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)

    model.train()
    model.zero_grad(set_to_none=True)
    with PeakMemory(x.device) as meter:
        step()
    model.zero_grad(set_to_none=True)
    sync()
    start = time.perf_counter()
    step()
    sync()
    seconds = time.perf_counter() - start
    model.zero_grad(set_to_none=True)
    return meter.peak_bytes / 2**20, seconds
