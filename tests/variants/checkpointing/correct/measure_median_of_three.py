# times three steps and returns the median; zero_grad() with its default (set_to_none=True)
import statistics
import time

import torch


def train_step_cost(model, x, use_checkpointing):
    model.train()
    model.zero_grad()
    with PeakMemory(x.device) as meter:
        out = model(x, use_checkpointing=use_checkpointing)
        loss = weighted_loss(out)
        loss.backward()
    peak = meter.peak_bytes
    del out, loss
    times = []
    for _ in range(3):
        model.zero_grad()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        weighted_loss(model(x, use_checkpointing=use_checkpointing)).backward()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    model.zero_grad()
    return peak, statistics.median(times)
