# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercise 3: RMSNorm, and an honest look at its speed
#
# **Learning goals.** After this notebook you can
# - explain what RMSNorm computes and how it differs from LayerNorm (re-scaling without re-centering);
# - implement `RMSNorm` as LLaMA does, including the float32 statistic for half-precision inputs;
# - measure a memory-bound operation honestly (warm-up, median, fixed threads, GB/s against a copy) and explain
#   why an *unfused* RMSNorm is slower than PyTorch's LayerNorm even though it does less arithmetic.
#
# **Estimated time:** 45 minutes. The whole notebook runs in about a minute on a laptop CPU.
#
# | part | what you do | graded |
# | --- | --- | --- |
# | 3a | implement `RMSNorm` | automatically (visible and hidden tests) |
# | 3b | write the speed measurement and compare with LayerNorm | not graded: it feeds 3c |
# | 3c | explain the measurement in a few sentences | by your instructor |

# %% tags=["nbval-ignore-output"]
import math
import os

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

torch.manual_seed(0)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
print("torch", torch.__version__, "| device:", device)

# %% [markdown]
# ## 1. The idea
#
# A Transformer block normalises its input before every sublayer. **LayerNorm** (Ba et al., 2016) does two things
# to each vector $x \in \mathbb{R}^d$: it *re-centres* it (subtracts the mean $\mu$) and *re-scales* it (divides by
# the standard deviation $\sigma$), then applies a learned scale $g$ and shift $b$:
#
# $$\mathrm{LayerNorm}(x) = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} \odot g + b .$$
#
# Zhang & Sennrich (2019) asked which of the two matters. Their answer: the **re-scaling** (invariance to the size of
# the input) is what stabilises training; re-centering can be dropped. **RMSNorm** divides by the root mean square
# and keeps only a learned scale:
#
# $$\mathrm{RMSNorm}(x) = \frac{x}{\sqrt{\frac{1}{d}\sum_i x_i^2 + \epsilon}} \odot g .$$
#
# It has one statistic instead of two and no bias. LLaMA, Mistral, Gemma and most recent language models use it.
# The figure shows one vector with a non-zero mean: LayerNorm moves it to mean zero, RMSNorm keeps its direction
# (and so its mean's sign) and only changes its length.

# %%
x_demo = torch.tensor([2.0, 3.0, 1.5, 4.0, 2.5, 3.5])
layer_normed = F.layer_norm(x_demo, (6,))
rms_normed = x_demo / x_demo.pow(2).mean().sqrt()

fig, ax = plt.subplots(figsize=(8, 3))
for offset, values, label in [(-0.27, x_demo, "input x"), (0.0, layer_normed, "LayerNorm(x)"),
                              (0.27, rms_normed, "RMSNorm(x)")]:
    ax.bar([i + offset for i in range(6)], values.tolist(), width=0.27, label=label)
ax.axhline(0, color="black", linewidth=0.8)
ax.set_xlabel("feature index")
ax.set_title("LayerNorm re-centres and re-scales; RMSNorm only re-scales")
ax.legend()
plt.show()
print(f"mean of input {x_demo.mean():.2f} | LayerNorm output {layer_normed.mean():.2f} | "
      f"RMSNorm output {rms_normed.mean():.2f}")

# %% [markdown]
# ## 2. Exercise 3a: implement `RMSNorm`
#
# **The API your class must meet** (the tests rely on exactly this, and on nothing else):
#
# - `RMSNorm(d_model, eps=1e-6)` is an `nn.Module`.
# - It has **one** learnable parameter, the scale: a vector of shape `(d_model,)` initialised to **ones**
#   (name it as you like; `weight` is the usual name). No bias.
# - `forward(x)` normalises over the **last** dimension, for any number of leading dimensions:
#   `y = x / sqrt(mean(x**2) + eps) * scale`.
# - It returns a tensor of the input's shape and **dtype**. For `float16` / `bfloat16` inputs, compute the
#   statistic in `float32` (float16's largest value is 65504, so any activation above 256 overflows when
#   squared), then cast back.
# - It does not modify its input.
#
# **Hint.** `x.float()` gives a float32 copy, `torch.rsqrt` is $1/\sqrt{\cdot}$, `mean(-1, keepdim=True)` keeps the
# dimension so that broadcasting works, and `y.to(x.dtype)` (or `y.type_as(x)`) casts back.

# %% nbgrader={"grade_id": "rmsnorm_impl", "solution": true}
class RMSNorm(nn.Module):
    def __init__(self, d_model, eps=1e-6):
        super().__init__()
        ### BEGIN SOLUTION
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        # The statistic in float32 (at least): half precision would overflow on large activations.
        compute_dtype = torch.promote_types(x.dtype, torch.float32)
        xc = x.to(compute_dtype)
        normed = xc * torch.rsqrt(xc.pow(2).mean(-1, keepdim=True) + self.eps)
        return (normed * self.weight.to(compute_dtype)).to(x.dtype)
        ### END SOLUTION


# %% [markdown]
# ### Tests for 3a
#
# The cell below checks the shape, the dtype and the values on a tiny input. More tests (hidden) run when your
# notebook is graded: they check what the API above states, with other shapes, a random scale, small inputs, half
# precision, gradients, and the properties that make RMSNorm what it is. Passing the visible tests is a start,
# not a guarantee.

# %% nbgrader={"grade": true, "grade_id": "test_rmsnorm_basics", "locked": true, "points": 2}
### BEGIN HIDDEN TESTS
from autograder.checks import rmsnorm as _checks; _checks.GROUPS.run("values", RMSNorm)
### END HIDDEN TESTS
norm = RMSNorm(4)
x_small = torch.tensor([[1.0, 2.0, 3.0, 4.0], [-2.0, 0.0, 0.0, 2.0]])
y_small = norm(x_small)
assert isinstance(y_small, torch.Tensor), f"forward should return a tensor, got {type(y_small).__name__}"
assert y_small.shape == x_small.shape, f"output shape {tuple(y_small.shape)} should equal the input's (2, 4)"
assert y_small.dtype == x_small.dtype, f"output dtype {y_small.dtype} should equal the input's {x_small.dtype}"
# Row 1: mean of squares = (1 + 4 + 9 + 16) / 4 = 7.5; row 2: (4 + 0 + 0 + 4) / 4 = 2
expected_small = torch.tensor([[1.0, 2.0, 3.0, 4.0], [-2.0, 0.0, 0.0, 2.0]]) / torch.tensor([[7.5], [2.0]]).sqrt()
assert torch.allclose(y_small, expected_small, atol=1e-4), (
    "values on a 2x4 input are wrong: divide each row by the square root of the mean of its squares")
print("visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "test_rmsnorm_parameters", "locked": true, "points": 2}
### BEGIN HIDDEN TESTS
from autograder.checks import rmsnorm as _checks; _checks.GROUPS.run("parameters", RMSNorm)
### END HIDDEN TESTS
assert sum(p.numel() for p in RMSNorm(8).parameters()) == 8, "RMSNorm(8) should have 8 learnable numbers"
print("visible test passed")

# %% nbgrader={"grade": true, "grade_id": "test_rmsnorm_dtypes", "locked": true, "points": 2}
### BEGIN HIDDEN TESTS
from autograder.checks import rmsnorm as _checks; _checks.GROUPS.run("dtypes", RMSNorm)
### END HIDDEN TESTS
# Each test cell is self-contained: it does not depend on another test cell having passed.
x_small = torch.tensor([[1.0, 2.0, 3.0, 4.0], [-2.0, 0.0, 0.0, 2.0]])
y_half = RMSNorm(4)(x_small.half())
assert y_half.dtype == torch.float16, f"a float16 input should give a float16 output, got {y_half.dtype}"
print("visible test passed")

# %% nbgrader={"grade": true, "grade_id": "test_rmsnorm_properties", "locked": true, "points": 2}
# The properties that make RMSNorm what it is (section 1); the hidden tests check more of them.
### BEGIN HIDDEN TESTS
from autograder.checks import rmsnorm as _checks; _checks.GROUPS.run("properties", RMSNorm)
### END HIDDEN TESTS
x_small = torch.tensor([[1.0, 2.0, 3.0, 4.0], [-2.0, 0.0, 0.0, 2.0]])
assert torch.allclose(RMSNorm(4)(10 * x_small), RMSNorm(4)(x_small), atol=1e-4), (
    "multiplying the input by 10 changed the output: RMSNorm should not depend on the input's scale")
print("visible test passed")

# %% [markdown]
# ## 3. Exercise 3b: is RMSNorm faster?
#
# RMSNorm computes one statistic instead of two, so it is often said to be faster than LayerNorm. Measure it.
#
# Normalising is **memory-bound**: each element is read once and written once, with a few flops in between, so
# the time is set by how fast memory moves, not by arithmetic. The honest unit is therefore **effective
# bandwidth**, bytes read plus bytes written per second, compared with the fastest thing that reads and writes
# the same bytes: a plain copy (`x.clone()`).
#
# Write `effective_gbps(fn, x)`:
# - time `fn(x)` with `torch.utils.benchmark.Timer` (it warms up, synchronises CUDA, and fixes the thread count:
#   pass `num_threads=torch.get_num_threads()`), using `blocked_autorange(min_run_time=0.3)`;
# - take the **median** time (robust to a noisy machine);
# - return the effective bandwidth in GB/s, counting one read and one write of `x`:
#   `2 * x.numel() * x.element_size() / median / 1e9`.
#
# **Hint.** `Timer(stmt="fn(x)", globals={"fn": fn, "x": x}, num_threads=...)`; the measurement object has a
# `.median` in seconds.

# %% nbgrader={"grade_id": "bench_impl", "solution": true}
from torch.utils import benchmark


def effective_gbps(fn, x):
    ### BEGIN SOLUTION
    timer = benchmark.Timer(stmt="fn(x)", globals={"fn": fn, "x": x}, num_threads=torch.get_num_threads())
    median = timer.blocked_autorange(min_run_time=0.3).median
    return 2 * x.numel() * x.element_size() / median / 1e9
    ### END SOLUTION


# %% [markdown]
# The next cell compares five ways to normalise the same tensor: a copy (the floor), PyTorch's fused
# `nn.LayerNorm`, **your** eager `RMSNorm`, PyTorch's `F.rms_norm`, and your formula compiled by `torch.compile`
# (which fuses its five element-wise passes into one loop). Its numbers depend on the machine; the text after it
# is computed from them. It is skipped when nbgrader validates or grades your notebook: timings are not graded.

# %% tags=["nbval-ignore-output"]
def compare_norms(shape=(16, 1024, 512)):
    x = torch.randn(shape, device=device)
    d = shape[-1]
    layer_norm = nn.LayerNorm(d).to(device)
    rms_norm = RMSNorm(d).to(device)
    weight = torch.ones(d, device=device)
    candidates = {
        "copy (floor)": lambda t: t.clone(),
        "nn.LayerNorm": layer_norm,
        "your RMSNorm (eager)": rms_norm,
        "F.rms_norm": lambda t: F.rms_norm(t, (d,), weight, eps=1e-6),
    }
    try:
        compiled = torch.compile(rms_norm)
        compiled(x)  # compile now, outside the timing
        candidates["your RMSNorm, torch.compile"] = compiled
    except Exception as exc:  # no compiler toolchain, unsupported platform, ...
        print(f"torch.compile is not available here, so the fused version is skipped: {type(exc).__name__}: {exc}")
    with torch.no_grad():
        return {name: effective_gbps(fn, x) for name, fn in candidates.items()}


if os.environ.get("NBGRADER_EXECUTION"):  # set by nbgrader's Validate and autograde
    bandwidth = None
    print("Skipped while validating or grading: timings are not graded.")
else:
    bandwidth = compare_norms()
    for name, gbps in bandwidth.items():
        print(f"{name:30s} {gbps:7.1f} GB/s")

# %% tags=["nbval-ignore-output"]
def describe(bandwidth):
    """Say what this run measured, in words computed from its numbers."""
    eager, layer = bandwidth["your RMSNorm (eager)"], bandwidth["nn.LayerNorm"]
    verdict = "faster" if eager > layer else "slower"
    ratio = max(eager, layer) / min(eager, layer)
    lines = [f"On this machine ({device}, {torch.get_num_threads()} threads) your eager RMSNorm was "
             f"{ratio:.1f}x {verdict} than nn.LayerNorm ({eager:.1f} vs {layer:.1f} GB/s; a copy reached "
             f"{bandwidth['copy (floor)']:.1f} GB/s)."]
    fused = bandwidth.get("your RMSNorm, torch.compile")
    if fused is not None:
        lines.append(f"Compiled (fused), RMSNorm reached {fused:.1f} GB/s: "
                     f"{fused / layer:.2f}x LayerNorm's bandwidth.")
    return " ".join(lines)


if bandwidth is not None:
    print(describe(bandwidth))
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.barh(list(bandwidth), list(bandwidth.values()), color="tab:blue")
    ax.set_xlabel("effective bandwidth, GB/s (higher is faster)")
    ax.set_title(f"Normalising a {16 * 1024 * 512 * 4 / 2**20:.0f} MiB tensor on {device}")
    ax.invert_yaxis()
    plt.show()

# %% [markdown]
# ### What the measurement shows, and why
#
# When this lab was written, on a 2-core CPU (torch 2.13, fp32, a (32, 1000, 512) tensor) the eager RMSNorm took
# 188 ms against 72 ms for `nn.LayerNorm` and 58 ms for a copy: **about 2.6x slower than LayerNorm**, even though
# it computes less. On an H100 GPU (fp32, (8, 2048, 4096)) the same formula reached 729 GB/s against LayerNorm's
# 2031 GB/s and a copy's 2982 GB/s: about 2.8x slower. Your run above is the one that counts for your
# machine; it may differ.
#
# Why: every eager PyTorch operation is a separate pass over memory. `x.pow(2)`, `.mean()`, `+ eps` and `rsqrt`
# (on the small statistic), `x * ...`, `* weight`: the large tensor is read and written about five times, while
# `nn.LayerNorm` is one hand-written (fused) kernel that reads `x` once and writes `y` once. For a memory-bound
# operation, passes over memory set the time; the one reduction RMSNorm saves is noise. Fusion closes the gap:
# `torch.compile` of the same formula reached 79 ms on that CPU and 2195 GB/s on the H100, and `F.rms_norm` has a
# fused kernel on recent CUDA builds (2047 GB/s there; on the CPU it measured 161 ms). The speed-ups of 7% to 64%
# reported by Zhang & Sennrich (2019) compare implementations that were *both* unfused; in production RMSNorm's
# advantage comes from fused kernels (Apex, Triton, Liger), where it saves one reduction.
#
# Size matters too. This notebook's own comparison, run on an H100 (torch 2.11, fp32) with its default 32 MiB
# tensor, measured: copy 2643 GB/s, LayerNorm 1637, eager RMSNorm 458 (3.6x slower than LayerNorm), `F.rms_norm`
# 2404, and the compiled solution only 630 GB/s (0.38x LayerNorm). The same code on a 256 MiB tensor
# (8, 2048, 4096) measured copy 2975, LayerNorm 1976, eager RMSNorm 732 (2.7x slower), `F.rms_norm` 2006, compiled
# 2214 GB/s (1.12x LayerNorm). At 32 MiB one pass over the tensor takes about 25 microseconds on that GPU, so fixed
# per-call costs weigh as much as the memory traffic; we did not profile which of them (kernel launches, the
# compiled wrapper's checks) held the compiled version back. Measure at the sizes your model really uses.

# %% [markdown]
# ## 4. Exercise 3c: explain your result (graded by your instructor)
#
# In three to five sentences: was your eager RMSNorm faster or slower than `nn.LayerNorm` in **your** run, by how
# much, and why? What would you do to make RMSNorm faster than LayerNorm, and why would that work?

# %% [markdown] nbgrader={"grade": true, "grade_id": "explain_speed", "points": 2, "solution": true}
# ### BEGIN SOLUTION
# Model answer: in my run the eager RMSNorm was about 2-3x slower than `nn.LayerNorm` (numbers from the cell
# above). Normalisation is memory-bound: the time is the number of passes over the tensor times its size divided
# by the memory bandwidth. My eager RMSNorm launches several element-wise operations, each reading and writing
# the whole tensor, whereas LayerNorm is a single fused kernel that reads once and writes once. Fusing RMSNorm
# (torch.compile, a Triton kernel, a fused `F.rms_norm`) brings it to one read and one write; then it saves the mean
# reduction and can match or beat LayerNorm.
#
# Mark scheme (2 points):
# - 1 point: reports the measured direction and rough ratio from their own run (slower, unless their run showed
#   otherwise), not the folklore claim.
# - 1 point: explains it by memory traffic (several passes for unfused eager ops vs one fused kernel) and names
#   fusion (torch.compile / custom kernel / fused F.rms_norm) as the fix.
# ### END SOLUTION

# %% [markdown]
# ## Summary
#
# - RMSNorm re-scales each vector by its root mean square and applies a learned scale: no mean, no bias.
# - It is invariant to the input's scale (`RMSNorm(c * x) = RMSNorm(x)` for `c > 0`) but not to a shift.
# - Compute the statistic in float32 for half-precision inputs, and return the input's dtype.
# - "Fewer flops" does not mean "faster" for a memory-bound operation: count passes over memory, and measure
#   against a copy. An unfused RMSNorm is slower than PyTorch's fused LayerNorm; a fused one catches up.
#
# ## References
#
# - B. Zhang, R. Sennrich. *Root Mean Square Layer Normalization.* NeurIPS 2019. arXiv:1910.07467.
# - J. L. Ba, J. R. Kiros, G. E. Hinton. *Layer Normalization.* 2016. arXiv:1607.06450.
# - H. Touvron et al. *LLaMA: Open and Efficient Foundation Language Models.* 2023. arXiv:2302.13971
#   (RMSNorm code: `facebookresearch/llama`, `model.py`).
# - PyTorch documentation: `torch.nn.RMSNorm`, `torch.utils.benchmark`, `torch.compile`.
