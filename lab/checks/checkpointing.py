"""Hidden checks for exercise 2, gradient checkpointing: the probes (they run in the student's kernel).

What the notebook states, and so all these checks rely on:
- 2a `TransformerEncoderCheckpointed(num_layers, d_model, num_heads, d_ff=None, dropout=0.1)` (the lab's API):
  `layers`, an nn.ModuleList with one entry per layer, each entry a module holding the submodules `attn` (the
  provided MultiHeadAttention), `ffn`, `norm1`, `norm2` (a layer class of the student's, or an nn.ModuleDict run by
  a helper: how a layer is run is not part of the API); pre-norm:
  `h = norm1(x); x = x + dropout(attn(h, h, h, mask)); x = x + dropout(ffn(norm2(x)))`; the final LayerNorm
  `final_norm`; `d_ff=None` means 4 * d_model. `forward(x, mask=None, use_checkpointing=True)` checkpoints each
  layer separately when training with gradients enabled and use_checkpointing is true, else runs plainly.
- 2b `train_step_cost(model, x, use_checkpointing) -> (peak_bytes, seconds)`: one step (grads cleared, forward,
  `weighted_loss(out)`, backward), peak from `PeakMemory(x.device)`, time of a second step outside the meter,
  grads left cleared.
- 2c `checkpoint_every(model, x, k, mask=None)` for an encoder whose `layers[i](x, mask)` runs layer i (the
  provided PlainEncoder): segments of k consecutive layers, each one checkpointed region, then `final_norm`;
  `peak_by_k(model, x) -> {k: peak_bytes}` for k = 1..num_layers, as in 2b but with `checkpoint_every`, grads left
  cleared.
2b and 2c are checked on encoders built here from the provided PlainEncoder, never on the student's 2a.

Every probe builds its inputs and weights from the seed, calls the student's code and returns what came out; the
judges (lab/judges/checkpointing.py, never in the kernel) rebuild the same and compare with their own
reference implementations. Nothing here is an answer: no checkpointed encoder, no segments, no expected peak.

The recomputation witness (groups "recomputation", "memory", "segments"). Which layers a training step runs again
in its backward pass, how often and in which order, is not observed with hooks (ordinary code can fire them, and a
layer run through `.forward` fires none): it shows in the numbers. `install_witness` turns each layer's `attn` and
`ffn` (the objects the API names, wherever the layer keeps them) into *drifting* modules: the same computation, with
every weight matrix multiplied by 1 + DRIFT * t, where t counts the calls of all the model's drifting modules so
far (one clock per model, ticking when a drifting module starts, whether it is called as a module or through
`.forward`). The forward pass runs them at t = 0, 1, 2, ...; a checkpointed region recomputed in the backward pass
runs them again at later t, and the gradients are computed from the recomputed activations. So the gradients
tell which layers were recomputed, how often and in which order (per-layer checkpointing rebuilds the last layer
first; one region over the whole stack rebuilds them in forward order; no checkpointing rebuilds nothing; a
checkpoint of only the attention rebuilds half a layer), and the outputs of a later call tell how many calls came
before. The judge builds the same drifting model from the seed, runs it as a correct answer does (torch's
checkpoint, use_reentrant=False) and compares. torch's non-reentrant checkpoint checks only the shapes, dtypes
and devices of recomputed tensors (its default determinism check), so drifted values are accepted. The witness
also makes each layer's LayerNorms (and the final norm) identities, so that the function it sees is the same for a
pre-norm and a post-norm layer, with or without a final norm: those mistakes cost the points of the structure
checks, not these.

Memory. The student's encoder's memory is judged through the witness: checkpointing each layer separately, each
rebuilt on its own from the last (proved by the gradients, here with a frozen input as from an embedding), is what
keeps the peak at one layer's activations. A second probe reports the meter's peak for a checkpointed step of the
witness (an input that requires grad, so that only the memory is judged there) and the judge compares it with the
peak of its own reference step under the same meter (the meter counts the storages a step allocates, the same in
any process; the witness runs the student's parts with the probe's own computation, so that only the student's
checkpointing and what its layer keeps alive show in the peak). 2b's and 2c's peaks are judged the same way.

What a student could still do (the threat model): every number here comes from the kernel, where student code can
change anything, including these probes and the meter. Forged data must still be what the asked behaviour gives for
the grader's seed: outputs and gradients of a drifting model recomputed layer by layer in reverse order, or peaks
the judge measures itself. A student who reads this module can write code that recognises the witness (its modules
are the student's own objects with another forward; a determined reader can tell) and then emulate per-layer
recomputation by hand, which is more work than the answer and saves no memory in ordinary use; and can make the
meter report a chosen peak (the meter is in the kernel). Keeping extra tensors alive outside the step (e.g. a list
of activations kept on the module across calls) is not seen by the meter. The time 2b returns is checked only for
plausibility against the duration of the call as the probe measured it (a kernel clock: any small positive number
passes); its unit mistakes (milliseconds) are caught.
"""
from __future__ import annotations

import math
import time
import warnings
import zlib

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint_sequential

from lab.provided import as_in_notebook
from lab.provided.attention import MultiHeadAttention
from lab.provided.memory_meter import PeakMemory
from lab.provided.weighted_loss import weighted_loss

from autograder.probing import CheckGroups, expect, plain

GROUPS = CheckGroups()
probe = GROUPS.probe

D_MODEL, HEADS, BATCH, SEQ = 32, 4, 2, 12
D_FF = 4 * D_MODEL

# The PlainEncoder the notebook provides (the same file), run as the notebook runs it: after the attention cell.
PlainEncoder = as_in_notebook("plain_encoder.py", {"MultiHeadAttention": MultiHeadAttention})["PlainEncoder"]


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _mix(seed: int, stream: int) -> int:
    """A generator seed for one input stream of one grading seed (seed 0, the unit tests': the stream itself)."""
    return (seed * 1_000_003 + stream) % 2**63


def _input(seed: int, batch=BATCH, seq=SEQ, d_model=D_MODEL, requires_grad=False) -> torch.Tensor:
    return torch.randn(batch, seq, d_model, generator=_generator(seed)).requires_grad_(requires_grad)


def _seeded_input(seed: int, stream: int, batch=BATCH, seq=SEQ, requires_grad=False) -> torch.Tensor:
    return _input(_mix(seed, stream), batch, seq, requires_grad=requires_grad)


def _padding_mask(batch=BATCH, seq=SEQ) -> torch.Tensor:
    """(batch, 1, 1, seq), True = may attend; the second sequence's last 4 keys are padding."""
    mask = torch.ones(batch, 1, 1, seq, dtype=torch.bool)
    mask[1, ..., seq - 4:] = False
    return mask


def _weights(out: torch.Tensor, seed: int) -> torch.Tensor:
    """A fixed random weighting of the outputs (a plain .sum() after a LayerNorm has almost zero gradient)."""
    return torch.randn(out.shape, generator=_generator(seed))


def make(cls, num_layers: int, dropout: float = 0.0, **kwargs) -> nn.Module:
    torch.manual_seed(0)
    model = cls(num_layers, D_MODEL, HEADS, dropout=dropout, **kwargs)
    expect(isinstance(model, nn.Module), "TransformerEncoderCheckpointed must be an nn.Module")
    return model


def _layers(model: nn.Module) -> list[nn.Module]:
    layers = getattr(model, "layers", None)
    expect(isinstance(layers, nn.ModuleList), "the encoder should keep its layers in `self.layers`, an nn.ModuleList")
    return list(layers)


def _part(layer: nn.Module, name: str) -> nn.Module:
    """A layer's submodule by name, whether the layer is a class of its own or an nn.ModuleDict."""
    part = getattr(layer, name, None)
    expect(isinstance(part, nn.Module), f"each layer should have the submodule `{name}` (see the API in the notebook)")
    return part


# --- weights drawn from the seed ------------------------------------------------------------------------------

NORMS = ("norm1", "norm2", "final_norm")  # the API's LayerNorms: random scales and shifts, never ones and zeros


def prescribed(name: str, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """The value a probe gives the parameter `name` for this seed (the judge computes the same): drawn from the
    name and the seed only, so that it does not depend on how the student's code creates its parameters."""
    gen = torch.Generator().manual_seed(_mix(seed, zlib.crc32(name.encode())))
    module, _, kind = name.rpartition(".")
    if module.rpartition(".")[2] in NORMS:
        return 0.5 + torch.rand(shape, generator=gen) if kind == "weight" else 0.1 * torch.randn(shape, generator=gen)
    bound = 1 / math.sqrt(shape[-1]) if len(shape) > 1 else 0.1
    return (2 * torch.rand(shape, generator=gen) - 1) * bound


def _prescribe(param: torch.Tensor, name: str, seed: int) -> None:
    with torch.no_grad():
        param.copy_(prescribed(name, tuple(param.shape), seed).to(param.dtype))


def api_parameters(model: nn.Module, norms: bool = True) -> dict[str, nn.Parameter]:
    """The parameters of the parts the API names, by the names the provided PlainEncoder gives them
    (`layers.0.attn.W_q.weight`, `layers.0.ffn.0.weight`, `final_norm.bias`, ...): found through the API's
    attributes, whatever names the student's code registers them under (an nn.ModuleDict, a property, an alias).
    The feed-forward network's two linear layers are told apart by their shapes (their names are the student's)."""
    params = {}
    for i, layer in enumerate(_layers(model)):
        attn = _part(layer, "attn")
        for name in ATTENTION_WEIGHTS:
            linear = getattr(attn, name, None)
            expect(isinstance(linear, nn.Linear) and linear.bias is not None,
                   "each layer's `attn` should be the provided MultiHeadAttention (with W_q, W_k, W_v, W_o)")
            prefix = f"layers.{i}.attn.{name}"
            params[f"{prefix}.weight"], params[f"{prefix}.bias"] = linear.weight, linear.bias
        for index, linear in zip((0, 3), ffn_linears(_part(layer, "ffn"))):
            prefix = f"layers.{i}.ffn.{index}"
            params[f"{prefix}.weight"], params[f"{prefix}.bias"] = linear.weight, linear.bias
        if norms:
            for name in ("norm1", "norm2"):
                params.update(_norm_parameters(_part(layer, name), f"layers.{i}.{name}", f"`{name}`"))
    if norms:
        params.update(_norm_parameters(getattr(model, "final_norm", None), "final_norm",
                                       "the final norm `self.final_norm` (a pre-norm stack needs one)"))
    return params


def _norm_parameters(norm: object, prefix: str, what: str) -> dict[str, nn.Parameter]:
    weight, bias = getattr(norm, "weight", None), getattr(norm, "bias", None)
    expect(isinstance(norm, nn.Module) and isinstance(weight, nn.Parameter) and isinstance(bias, nn.Parameter)
           and tuple(weight.shape) == tuple(bias.shape) == (D_MODEL,),
           f"{what} should be an nn.LayerNorm(d_model), with a weight and a bias")
    return {f"{prefix}.weight": weight, f"{prefix}.bias": bias}


def make_seeded(cls, num_layers: int, seed: int, dropout: float = 0.0, **kwargs):
    """The student's encoder with every parameter of the API's parts set to the value the seed prescribes for its
    (PlainEncoder) name; returns the model, those parameters and the feed-forward width (the judge builds its
    reference with that width: a wrong default width is the structure checks' business)."""
    model = make(cls, num_layers, dropout=dropout, **kwargs)
    params = api_parameters(model)
    for name, param in params.items():
        _prescribe(param, name, seed)
    return model, params, int(params["layers.0.ffn.0.weight"].shape[0])


def ffn_linears(ffn: nn.Module) -> tuple[nn.Linear, nn.Linear]:
    """The feed-forward network's two linear layers, (d_model -> d_ff, d_ff -> d_model), found by their shapes (their
    names are the student's choice)."""
    linears = [m for m in ffn.modules() if isinstance(m, nn.Linear)]
    expect(len(linears) == 2 and all(m.bias is not None for m in linears),
           f"`ffn` should hold exactly two nn.Linear layers (with biases), found {len(linears)}")
    first, second = linears
    if first.in_features != D_MODEL:
        first, second = second, first
    return first, second


# --- a training step, and what a probe reports of it ---------------------------------------------------------

def _step(model, x, mask, use_checkpointing, seed=None, weight_seed=99, forward=None, params=None):
    """One training step with a weighted loss; returns the output and the gradients of `params` (by default every
    parameter of the model, by name) and of the input."""
    params = dict(model.named_parameters()) if params is None else params
    model.zero_grad(set_to_none=True)
    if x.grad is not None:
        x.grad = None
    if seed is not None:
        torch.manual_seed(seed)
    out = forward() if forward is not None else model(x, mask=mask, use_checkpointing=use_checkpointing)
    (out * _weights(out, weight_seed)).sum().backward()
    grads = {name: (None if p.grad is None else p.grad.detach().clone()) for name, p in params.items()}
    input_grad = None if x.grad is None else x.grad.detach().clone()
    model.zero_grad(set_to_none=True)
    return out.detach(), grads, input_grad


SKETCH_ROWS = 32  # what a probe reports of a gradient with more entries: 32 random projections of it


def sketch(name: str, grad: torch.Tensor | None, seed: int) -> torch.Tensor | None:
    """A gradient as a probe reports it: small ones whole; larger ones as SKETCH_ROWS projections on random +-1
    directions (scaled by 1/sqrt(n)) drawn from the seed and the name, so that a step's data stays well under 1 MB.
    The judge projects the gradients it expects the same way: projections are linear, so equal gradients give
    equal projections, and a wrong gradient (a different vector) gives different ones whatever the seed."""
    if grad is None or grad.numel() <= 8 * SKETCH_ROWS:
        return grad
    gen = torch.Generator().manual_seed(_mix(seed, zlib.crc32(f"sketch {name}".encode())))
    signs = torch.randint(0, 2, (SKETCH_ROWS, grad.numel()), generator=gen).double() * 2 - 1
    return (signs @ grad.detach().double().flatten()) / math.sqrt(grad.numel())


def _sketched(step, seed: int, names: dict[str, str] | None = None):
    """A step's (output, gradients, input gradient) with its gradients sketched under the student's names
    (`names`: {student's name: the step's name}, for the reference's steps)."""
    out, grads, input_grad = step
    names = names or {name: name for name in grads}
    return out, {name: sketch(name, grads[own], seed) for name, own in names.items()}, input_grad


def _step_data(step, seed: int) -> dict:
    out, grads, input_grad = _sketched(step, seed)
    return {"y": plain(out), "grads": grads, "x_grad": input_grad}


def _quietly(fn):
    """Run the student's code with its warnings kept out of the cell's output (reentrant checkpointing warns when
    no input requires grad: its missing gradients are the verdict, not the warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


# --- the recomputation witness (see the module's docstring) ----------------------------------------------------

DRIFT = 0.02  # each call of a drifting module multiplies its weight matrices by 1 + DRIFT * (calls before it)
ATTENTION_WEIGHTS = ("W_q", "W_k", "W_v", "W_o")


class Clock:
    """The calls of one model's drifting modules so far."""

    def __init__(self):
        self.calls = 0

    def tick(self) -> torch.Tensor:
        """This call's factor, as a tensor: autograd saves it for the backward pass like any activation, so that a
        recomputation replaces it (a Python number would stay baked into the first forward's graph, and the
        gradients would then depend on how torch's checkpoint replays a region)."""
        now, self.calls = self.calls, self.calls + 1
        return torch.tensor(1.0 + DRIFT * now)


def _with_forward(module: nn.Module, forward) -> None:
    """Give this one object another forward (its class is replaced by a subclass of the same name)."""
    cls = type(module)
    module.__class__ = type(cls.__name__, (cls,), {"forward": forward, "__module__": cls.__module__,
                                                   "__qualname__": cls.__qualname__})


def _drifting_attention(attn: nn.Module, clock: Clock, p: float) -> None:
    """The provided MultiHeadAttention's computation (HEADS heads, dropout p on the attention weights), its four
    weight matrices drifting with the clock."""
    linears = [getattr(attn, name, None) for name in ATTENTION_WEIGHTS]
    expect(all(isinstance(m, nn.Linear) and m.bias is not None for m in linears),
           "each layer's `attn` should be the provided MultiHeadAttention (with W_q, W_k, W_v, W_o)")
    w_q, w_k, w_v, w_o = linears

    def forward(self, query, key, value, mask=None):
        s = clock.tick()
        batch, q_len, _ = query.shape

        def heads(t):
            return t.view(batch, t.shape[1], HEADS, D_MODEL // HEADS).transpose(1, 2)

        q = heads(F.linear(query, w_q.weight * s, w_q.bias))
        k = heads(F.linear(key, w_k.weight * s, w_k.bias))
        v = heads(F.linear(value, w_v.weight * s, w_v.bias))
        scores = q @ k.transpose(-2, -1) / math.sqrt(D_MODEL // HEADS)
        if mask is not None:
            allowed = mask.bool()
            scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)
        if mask is not None:
            weights = weights * allowed.any(dim=-1, keepdim=True)
        out = F.dropout(weights, p, self.training) @ v
        return F.linear(out.transpose(1, 2).reshape(batch, q_len, D_MODEL), w_o.weight * s, w_o.bias)

    _with_forward(attn, forward)


def _drifting_feed_forward(ffn: nn.Module, clock: Clock, p: float) -> None:
    """Linear -> GELU -> dropout p -> Linear, both weight matrices drifting with the clock."""
    first, second = ffn_linears(ffn)

    def forward(self, x):
        s = clock.tick()
        h = F.dropout(F.gelu(F.linear(x, first.weight * s, first.bias)), p, self.training)
        return F.linear(h, second.weight * s, second.bias)

    _with_forward(ffn, forward)


def _identity(norm: object) -> None:
    if isinstance(norm, nn.Module):
        _with_forward(norm, lambda self, x: x)


def install_witness(model: nn.Module, seed: int, p: float) -> dict[str, nn.Parameter]:
    """Make `model` (the student's encoder, or the judge's reference) a witness of recomputation: weights drawn
    from the seed, drifting `attn` and `ffn`, identity norms. Returns the parameters it computes with."""
    params = api_parameters(model, norms=False)
    shapes = {name: tuple(param.shape) for name, param in params.items()}
    expect(all(shape[-1] in (D_MODEL, D_FF) for shape in shapes.values()),
           f"the witness is built with d_ff={D_FF}: a layer's parts have other shapes")
    for name, param in params.items():
        _prescribe(param, name, seed)
    clock = Clock()
    for layer in _layers(model):
        _drifting_attention(_part(layer, "attn"), clock, p)
        _drifting_feed_forward(_part(layer, "ffn"), clock, p)
        _identity(getattr(layer, "norm1", None))
        _identity(getattr(layer, "norm2", None))
    _identity(getattr(model, "final_norm", None))
    return params


def witness_step(params: dict, x: torch.Tensor, seed: int, stream: int, forward) -> dict:
    """One training step on a witness model (weighted loss): output, sketched gradients of `params`, input grad."""
    for param in params.values():
        param.grad = None
    x.grad = None
    out = forward()
    if out.requires_grad:
        (out * _weights(out, _mix(seed, stream))).sum().backward()
    grads = {name: sketch(name, param.grad, seed) for name, param in params.items()}
    input_grad = None if x.grad is None else x.grad.detach().clone()
    for param in params.values():
        param.grad = None
    return {"y": plain(out), "grads": grads, "x_grad": input_grad}


def _student_witness(cls, num_layers: int, seed: int, p: float = 0.0):
    torch.manual_seed(0)
    model = cls(num_layers, D_MODEL, HEADS, d_ff=D_FF, dropout=p)
    expect(isinstance(model, nn.Module), "TransformerEncoderCheckpointed must be an nn.Module")
    return model, install_witness(model, seed, p)


# --- 2a: structure (each part's function, with weights drawn from the seed) ---------------------------------

def _part_inputs(seed: int, i: int) -> torch.Tensor:
    return _seeded_input(seed, 200 + i)


STRUCTURE_LAYERS = (1, 3)


@probe("structure")
def layers_and_final_norm(cls, seed: int) -> dict:
    """`layers` holds num_layers layers whose norm1, norm2 and attn compute what they should; so does `final_norm`

    Each part is called on an input drawn from the seed, with weights drawn from the seed: the judge computes
    LayerNorm(d_model) and the provided MultiHeadAttention with the same weights."""
    models = []
    for num_layers in STRUCTURE_LAYERS:
        model = make(cls, num_layers).eval()
        layers = []
        with torch.no_grad():
            for i, layer in enumerate(_layers(model)):
                z = _part_inputs(seed, i)
                parts = {}
                for name in ("norm1", "norm2"):
                    norm = _part(layer, name)
                    for kind in ("weight", "bias"):
                        expect(isinstance(getattr(norm, kind, None), nn.Parameter),
                               f"`{name}` should be an nn.LayerNorm(d_model), with a weight and a bias")
                        _prescribe(getattr(norm, kind), f"layers.{i}.{name}.{kind}", seed)
                    parts[name] = plain(norm(z))
                attn = _part(layer, "attn")
                for name in ATTENTION_WEIGHTS:
                    linear = getattr(attn, name, None)
                    expect(isinstance(linear, nn.Linear) and linear.bias is not None,
                           "each layer's `attn` should be the provided MultiHeadAttention (with W_q, W_k, W_v, W_o)")
                    _prescribe(linear.weight, f"layers.{i}.attn.{name}.weight", seed)
                    _prescribe(linear.bias, f"layers.{i}.attn.{name}.bias", seed)
                parts["attn"] = plain(attn(z, z, z, _padding_mask()))
                layers.append(parts)
            final = getattr(model, "final_norm", None)
            expect(isinstance(final, nn.Module) and isinstance(getattr(final, "weight", None), nn.Parameter)
                   and isinstance(getattr(final, "bias", None), nn.Parameter),
                   "the encoder should end with a final nn.LayerNorm in `self.final_norm` (a pre-norm stack needs one)")
            _prescribe(final.weight, "final_norm.weight", seed)
            _prescribe(final.bias, "final_norm.bias", seed)
            z = _part_inputs(seed, 99)
            models.append({"layers": layers, "final_norm": plain(final(z))})
    return {"models": models}


FEED_FORWARD_WIDTHS = ((D_FF, {}), (48, {"d_ff": 48}))


@probe("structure")
def default_feed_forward_width(cls, seed: int) -> dict:
    """each layer's ffn is Linear(d_model, d_ff), GELU, Linear(d_ff, d_model); d_ff=None means 4 * d_model"""
    outputs = []
    for _, kwargs in FEED_FORWARD_WIDTHS:
        model = make(cls, 2, **kwargs).eval()
        per_layer = []
        with torch.no_grad():
            for i, layer in enumerate(_layers(model)):
                ffn = _part(layer, "ffn")
                for index, linear in zip((0, 3), ffn_linears(ffn)):
                    _prescribe(linear.weight, f"layers.{i}.ffn.{index}.weight", seed)
                    _prescribe(linear.bias, f"layers.{i}.ffn.{index}.bias", seed)
                per_layer.append({"width": ffn_linears(ffn)[0].out_features,
                                  "y": plain(ffn(_part_inputs(seed, 100 + i)))})
        outputs.append(per_layer)
    return {"models": outputs}


@probe("structure")
def computes_the_pre_norm_function(cls, seed: int) -> dict:
    """in eval mode with a mask: each layer is pre-norm with residuals, and the final norm is applied"""
    model, _, d_ff = make_seeded(cls, 3, seed, dropout=0.1)
    with torch.no_grad():
        y = model.eval()(_seeded_input(seed, 4), mask=_padding_mask())
    return {"d_ff": d_ff, "y": plain(y)}


# --- 2a: outputs and gradients --------------------------------------------------------------------------------
# The probe reports both runs of the student's encoder; the judge compares them with each other and the run
# without checkpointing, where there is no dropout, with the reference it builds from the seed's weights.

def _both_runs(model, params, x, mask, seed: int, stream: int, rng_stream: int | None = None) -> dict:
    rng = None if rng_stream is None else _mix(seed, rng_stream)
    return {mode: _step_data(_step(model, x, mask, mode == "checkpointed", seed=rng, weight_seed=_mix(seed, stream),
                                   params=params), seed)
            for mode in ("plain", "checkpointed")}


@probe("gradients")
def same_outputs_and_gradients_with_a_mask(cls, seed: int) -> dict:
    """training, no dropout, with a padding mask: output and every gradient equal with and without checkpointing"""
    model, params, d_ff = make_seeded(cls, 3, seed, dropout=0.0)
    model.train()
    return {"d_ff": d_ff,
            "mask": _both_runs(model, params, _seeded_input(seed, 6, requires_grad=True), _padding_mask(), seed, 99),
            "no mask": _both_runs(model, params, _seeded_input(seed, 7, requires_grad=True), None, seed, 98)}


@probe("gradients")
def same_gradients_with_dropout(cls, seed: int) -> dict:
    """dropout 0.2, same seed: output and every gradient equal with and without checkpointing"""
    model, params, d_ff = make_seeded(cls, 3, seed, dropout=0.2)
    model.train()
    x = _seeded_input(seed, 9, requires_grad=True)
    runs = _both_runs(model, params, x, None, seed, 99, rng_stream=10)
    with torch.no_grad():
        y_eval = model.eval()(x)
    return {"d_ff": d_ff, "runs": runs, "y_eval": plain(y_eval)}


@probe("gradients")
def parameters_get_gradients_when_input_needs_none(cls, seed: int) -> dict:
    """an input that does not require grad (a frozen embedding): every parameter still gets its gradient"""
    model, params, d_ff = make_seeded(cls, 2, seed, dropout=0.0)
    model.train()
    return {"d_ff": d_ff,
            "runs": _quietly(lambda: _both_runs(model, params, _seeded_input(seed, 12), None, seed, 99))}


# --- 2a: recomputation, seen in the witness's numbers ----------------------------------------------------------

@probe("recomputation")
def checkpointed_step_recomputes_each_layer_once(cls, seed: int) -> dict:
    """a checkpointed training step recomputes each layer once in the backward pass, each on its own, from the last"""
    model, params = _student_witness(cls, 3, seed)
    model.train()
    x = _seeded_input(seed, 13, requires_grad=True)
    return witness_step(params, x, seed, 13, lambda: model(x, use_checkpointing=True))


@probe("recomputation")
def plain_step_recomputes_nothing(cls, seed: int) -> dict:
    """with use_checkpointing=False nothing is recomputed in a training step"""
    model, params = _student_witness(cls, 3, seed)
    model.train()
    x = _seeded_input(seed, 14, requires_grad=True)
    return witness_step(params, x, seed, 14, lambda: model(x, use_checkpointing=False))


@probe("recomputation")
def eval_mode_recomputes_nothing(cls, seed: int) -> dict:
    """in eval mode (even with gradients enabled) nothing is recomputed"""
    model, params = _student_witness(cls, 3, seed)
    model.eval()
    x = _seeded_input(seed, 15, requires_grad=True)
    return witness_step(params, x, seed, 15, lambda: model(x))


@probe("recomputation")
def no_grad_forward_is_plain(cls, seed: int) -> dict:
    """under torch.no_grad each layer runs once and the output carries no graph"""
    model, _ = _student_witness(cls, 3, seed)
    model.train()
    runs = []
    for stream in (16, 17):  # the second forward's numbers show how many calls the first one made
        with torch.no_grad():
            out = _quietly(lambda: model(_seeded_input(seed, stream)))
        runs.append({"y": plain(out), "requires_grad": bool(getattr(out, "requires_grad", False))})
    return {"runs": runs}


# --- 2a: memory -----------------------------------------------------------------------------------------------

MEMORY_LAYERS = 6


def memory_input(seed: int, stream: int) -> torch.Tensor:
    """A frozen input (as from an embedding) of a shape drawn from the seed (see _measure_shape)."""
    batch, seq = _measure_shape(seed)
    return _seeded_input(seed, stream, batch=batch, seq=seq)


@probe("memory")
def frozen_input_step_recomputes_layer_by_layer(cls, seed: int) -> dict:
    """a 6-layer checkpointed step on a frozen input (an embedding) rebuilds each layer once, from the last"""
    model, params = _student_witness(cls, MEMORY_LAYERS, seed)
    model.train()
    x = memory_input(seed, 18)
    return _quietly(lambda: witness_step(params, x, seed, 18, lambda: model(x, use_checkpointing=True)))


@probe("memory")
def checkpointed_peak_is_per_layer(cls, seed: int) -> dict:
    """the peak memory of a 6-layer checkpointed training step (forward and backward) is per-layer checkpointing's"""
    model, params = _student_witness(cls, MEMORY_LAYERS, seed)
    model.train()
    x = memory_input(seed, 19).requires_grad_()
    with PeakMemory("cpu") as meter:
        out = _quietly(lambda: model(x, use_checkpointing=True))
        if out.requires_grad:
            weighted_loss(out).backward()
    return {"peak": int(meter.peak_bytes), "y": plain(out)}


# --- 2b ---------------------------------------------------------------------------------------------------------
# The meter counts the storages a step allocates: the same number for the same model, input shape and step in any
# process (the values do not matter). The judge runs the meter on the same model and step itself; the input's
# shape is drawn from the seed, so that the numbers of another grading run do not match.

# Shapes on which every variant (tests/variants/checkpointing) gets the verdicts it gets on (4, 32)
MEASURE_SHAPES = [(3, 32), (3, 40), (4, 24), (4, 32), (4, 40), (5, 24)]


def _measure_shape(seed: int) -> tuple[int, int]:
    """(batch, seq) for this seed; seed 0, the unit tests': (4, 32)."""
    if seed == 0:
        return 4, 32
    return MEASURE_SHAPES[torch.randint(len(MEASURE_SHAPES), (1,), generator=_generator(_mix(seed, 26))).item()]


class MeasuredEncoder(PlainEncoder):
    """The encoder 2b's checks measure ("an encoder of their own", the notebook says): the provided PlainEncoder
    whose use_checkpointing=True, when training, runs torch's `checkpoint_sequential` with one segment per layer
    (not 2a's answer: the notebook explains that its last segment is not checkpointed), so that its peak differs
    from the plain one, in the forward and in the backward pass, by more than the judge's tolerance for every
    realistic wrong measurement; in eval mode, or with use_checkpointing=False, it runs plainly. No mask:
    train_step_cost passes none."""

    def forward(self, x, mask=None, use_checkpointing=False):
        if not (use_checkpointing and self.training and mask is None):
            return super().forward(x, mask)
        return self.final_norm(checkpoint_sequential(self.layers, len(self.layers), x, use_reentrant=False))


def measure_model(seed: int, num_layers: int = 4, dropout: float = 0.1):
    torch.manual_seed(19)
    batch, seq = _measure_shape(seed)
    model = MeasuredEncoder(num_layers, D_MODEL, HEADS, dropout=dropout)
    return model, _seeded_input(seed, 20, batch=batch, seq=seq)


def _leave_old_gradients(model, x):
    model.train()
    weighted_loss(model(x)).backward()


def _reported_number(value: object) -> object:
    """A number the student's function returned, as a probe reports it (the name of its type otherwise)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return f"<{type(value).__name__}>"


def _reported_pair(result: object) -> object:
    if not (isinstance(result, tuple) and len(result) == 2):
        return "<not a pair>"
    return [_reported_number(result[0]), _reported_number(result[1])]


@probe("measure")
def peak_matches_the_meter(fn, seed: int) -> dict:
    """the peak bytes returned match the meter's for the same step, with and without use_checkpointing"""
    model, x = measure_model(seed)
    results = []
    for use_checkpointing in (False, True):
        _leave_old_gradients(model, x)  # a measurement must not depend on what an earlier step left
        results.append(_reported_pair(fn(model, x, use_checkpointing)))
    return {"results": results}


@probe("measure")
def seconds_are_wall_clock_seconds(fn, seed: int) -> dict:
    """the time returned is in seconds: positive and no longer than the call itself took"""
    model, x = measure_model(seed, 2)
    start = time.perf_counter()
    result = fn(model, x, True)
    elapsed = time.perf_counter() - start
    return {"result": _reported_pair(result), "elapsed": float(elapsed)}


def _grads_after_one_step(model, x, seed: int, stream: int) -> dict:
    """The gradients one more plain step leaves (sketched): a measurement that left gradients behind adds to them."""
    model.eval()  # no dropout: the step's gradients are the same in the judge's process
    out = model(x)
    (out * _weights(out, _mix(seed, stream))).sum().backward()
    return {name: sketch(name, p.grad, seed) for name, p in model.named_parameters()}


@probe("measure")
def gradients_left_cleared(fn, seed: int) -> dict:
    """after the measurement no gradient is left: one more step gives exactly that step's gradients"""
    model, x = measure_model(seed, 2, dropout=0.0)
    fn(model, x, False)
    return {"grads": _grads_after_one_step(model, x, seed, 27)}


# --- 2c ---------------------------------------------------------------------------------------------------------

def segments_model(num_layers=5, dropout=0.0):
    torch.manual_seed(21)
    model = PlainEncoder(num_layers, D_MODEL, HEADS, dropout=dropout).train()
    gen = _generator(22)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.LayerNorm):
                module.weight.copy_(0.5 + torch.rand(module.weight.shape, generator=gen))
    return model


SEGMENT_SIZES = (1, 2, 3, 5)


@probe("segments")
def segments_compute_the_same_function_and_gradients(fn, seed: int) -> dict:
    """for several k (with a mask): output and every gradient equal the plain model's"""
    model, mask = segments_model(), _padding_mask()
    x = _seeded_input(seed, 23, requires_grad=True)
    return {"runs": [_step_data(_step(model, x, mask, True, weight_seed=_mix(seed, 99),
                                      forward=lambda: fn(model, x, k, mask=mask)), seed) for k in SEGMENT_SIZES]}


WITNESS_SEGMENT_LAYERS, WITNESS_SEGMENT_SIZES = 5, (1, 2, 3)


def segments_witness(seed: int, k: int):
    """The provided PlainEncoder made a witness of recomputation (see install_witness) for segments of k."""
    torch.manual_seed(21)
    model = PlainEncoder(WITNESS_SEGMENT_LAYERS, D_MODEL, HEADS, dropout=0.0).train()
    return model, install_witness(model, _mix(seed, 300 + k), 0.0)


@probe("segments")
def segments_of_k_layers_are_recomputed(fn, seed: int) -> dict:
    """the backward pass rebuilds consecutive segments of k layers, every segment including the last"""
    runs = []
    for k in WITNESS_SEGMENT_SIZES:
        model, params = segments_witness(seed, k)
        x = _seeded_input(seed, 24, requires_grad=True)
        runs.append(witness_step(params, x, seed, 24, lambda: fn(model, x, k)))
    return {"runs": runs}


def peaks_model_and_input(seed: int):
    batch, seq = _measure_shape(seed)
    return segments_model(4, dropout=0.1), _seeded_input(seed, 25, batch=batch, seq=seq)


@probe("peak_by_k")
def peaks_for_every_k_match_the_meter(fn, seed: int) -> dict:
    """{k: peak bytes} for k = 1..num_layers, each matching the meter's, gradients left cleared"""
    model, x = peaks_model_and_input(seed)
    _leave_old_gradients(model, x)
    peaks = fn(model, x)
    reported = ([[repr(k), _reported_number(v)] for k, v in peaks.items()] if isinstance(peaks, dict)
                else f"<{type(peaks).__name__}>")
    return {"peaks": reported, "grads": _grads_after_one_step(model, x, seed, 28)}
