import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode  # PyTorch's documented way to see every operation


def _tensors(tree):
    """The tensors among an operation's arguments or results (nested in tuples, lists and dicts)."""
    stack, found = [tree], []
    while stack:
        item = stack.pop()
        if isinstance(item, torch.Tensor):
            found.append(item)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return found


class _LiveStorages(TorchDispatchMode):
    """Sees every tensor operation (forward and backward) and keeps the bytes of the storages it created alive.

    A storage counts from the operation that allocates it until it is freed. Views, in-place results and
    tensors that existed before the meter started (parameters, the input) are not new allocations: an output
    whose storage is one of the operation's inputs' storages is not counted again.
    """

    def __init__(self):
        super().__init__()
        self.live = {}  # StorageWeakRef -> bytes
        self.current = 0
        self.peak = 0

    def _sweep(self):
        for ref in [ref for ref in self.live if ref.expired()]:
            self.current -= self.live.pop(ref)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {StorageWeakRef(t.untyped_storage()) for t in _tensors((args, kwargs))}
        self._sweep()
        for t in _tensors(out):
            ref = StorageWeakRef(t.untyped_storage())
            if ref in inputs or ref in self.live:
                continue
            self.live[ref] = t.untyped_storage().nbytes()
            self.current += self.live[ref]
        self.peak = max(self.peak, self.current)
        return out


class PeakMemory:
    """Peak live tensor memory, in bytes, while the `with` block runs: `with PeakMemory(device) as m: ...`,
    then `m.peak_bytes`.

    It counts memory allocated INSIDE the block, above what was already allocated when it started (parameters,
    inputs, gradients from an earlier step). On a CUDA device it reads CUDA's allocator statistics
    (torch.cuda.max_memory_allocated); on the CPU it follows every tensor operation, forward and backward, with a
    TorchDispatchMode and adds up the storages alive after each one: exact and deterministic, no sampling.

    One difference: on a GPU a tensor made before the block and freed inside it makes room (the figure is the
    growth of all allocated memory), while the CPU meter never sees tensors made before the block, so it counts
    what the block allocates. Run a warm-up step first when a module keeps tensors from one call to the next.
    """

    def __init__(self, device="cpu"):
        self.device = torch.device(device)
        self.peak_bytes = None

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        else:
            self._mode = _LiveStorages()
            self._mode.__enter__()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_bytes = torch.cuda.max_memory_allocated(self.device) - self._start
        else:
            self._mode.__exit__(*exc)
            self.peak_bytes = self._mode.peak
        return False
