# timed with time.monotonic instead of time.perf_counter, helpers for the step and the sync
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
    start = time.monotonic()
    step()
    sync()
    seconds = time.monotonic() - start
    model.zero_grad(set_to_none=True)
    return meter.peak_bytes, seconds
