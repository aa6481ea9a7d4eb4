# Class 5 (issue 20), telling the checks apart by the call stack (the issue's "float16 rule broken except when the
# caller is the grader's code", 7.33 -> 8): forward walks its callers' frames; when one of them is the probes' code
# (a file or module under autograder/, or a function named like CheckGroups' run_probe/probe_group) it computes
# RMSNorm correctly, otherwise it is the wrong RMSNorm (eps outside the square root). The probes call the student's
# class from their own module: the stack names them.
# base: wrong
# expect: score <= baseline
# known: the probes' frames (lab/checks/*.py, run_probe, probe_group) are on the student code's call stack; an answer right only under them keeps full marks, at the cost of writing the right answer
import sys

import torch.nn.functional as F

_Wrong = RMSNorm  # noqa: F821


def _under_test():
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if name.startswith("autograder.") or "autograder" in frame.f_code.co_filename \
                or frame.f_code.co_name in ("run_probe", "probe_group"):
            return True
        frame = frame.f_back
    return False


class RMSNorm(_Wrong):
    def forward(self, x):
        if _under_test():
            return F.rms_norm(x.float(), (x.shape[-1],), self.weight.float(), eps=self.eps).to(x.dtype)
        return super().forward(x)
