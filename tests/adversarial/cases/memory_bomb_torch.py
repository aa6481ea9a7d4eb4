# One huge tensor: refused by the memory limit, nothing else happens.
# base: correct
# expect: score == 8
# reason: RuntimeError
import torch
big = torch.ones(2**36)
