# Cheat: forward patches torch.allclose (and torch.equal) in the kernel while the probes run. The comparisons are
# made by the judges in the grader's process, whose torch the kernel cannot reach.
# base: wrong
# expect: score <= baseline
import torch

_Honest = RMSNorm


class RMSNorm(_Honest):
    def forward(self, x):
        torch.allclose = lambda *args, **kwargs: True
        torch.equal = lambda *args, **kwargs: True
        return super().forward(x)
