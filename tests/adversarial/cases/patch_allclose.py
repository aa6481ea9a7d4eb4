# Cheat: torch.allclose (and friends) always say "equal".
# base: wrong
# expect: score <= baseline
import torch
torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
torch.isclose = lambda a, b, *args, **kwargs: torch.ones_like(a, dtype=torch.bool)
torch.Tensor.allclose = lambda self, *args, **kwargs: True
