# Cheat: forward patches torch.allclose while the checks run (after the guard's restore).
# base: wrong
# expect: score <= baseline
import torch

_Honest = RMSNorm


class RMSNorm(_Honest):
    def forward(self, x):
        torch.allclose = lambda *args, **kwargs: True
        return super().forward(x)
