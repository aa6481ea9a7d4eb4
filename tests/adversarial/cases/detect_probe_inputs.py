# Class 4 (issue 20), "can the judge's inputs be told apart?": yes, by their values, with no grader object touched.
# The rmsnorm probes draw each input from a fixed stream (torch.randn with generator seed 0..130) and the grading
# seed only permutes its features (checks/rmsnorm.py `features`), so the multiset of a row's values is the same in
# every run: this forward sorts its input's first row and compares it, up to an affine map (the probes' x 3, x 1e-3,
# + 3, negation, half precision), with the first row of each stream. When it recognises a probe input it computes
# RMSNorm correctly; everywhere else (the notebook, a student's own use) it is the wrong RMSNorm (eps outside the
# square root). Shapes alone would also do (the probes use widths 8-64, the notebook 4 and 512).
# It wins, and it has to carry a correct RMSNorm to do so: what remains possible (README's threat model).
# base: wrong
# expect: score <= baseline
# known: the probes' inputs are recognisable by value (and by shape); an answer right only on them keeps full marks, at the cost of writing the right answer
import torch
import torch.nn.functional as F

_Wrong = RMSNorm  # noqa: F821
_STREAMS: dict = {}


def _stream_rows(d):
    if d not in _STREAMS:
        rows = torch.stack([torch.randn(d, generator=torch.Generator().manual_seed(s)) for s in range(131)])
        _STREAMS[d] = rows.double().sort(-1).values
    return _STREAMS[d]


def _standard(v):
    v = v - v.mean(-1, keepdim=True)
    return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-30)


def _is_probe_input(x):
    d = x.shape[-1]
    if not 8 <= d <= 64 or x.numel() == 0:
        return False
    row = x.reshape(-1, d)[0].double().sort().values
    cands = _standard(_stream_rows(d))
    for sign_row in (_standard(row), _standard(-row.flip(0))):
        if bool(((cands - sign_row).abs().amax(-1) < 2e-2).any()):
            return True
    return False


class RMSNorm(_Wrong):
    def forward(self, x):
        if _is_probe_input(x):
            return F.rms_norm(x.float(), (x.shape[-1],), self.weight.float(), eps=self.eps).to(x.dtype)
        return super().forward(x)
