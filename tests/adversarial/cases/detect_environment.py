# Class 5 (issue 20), telling grading apart by the environment: NBGRADER_EXECUTION (set by nbgrader's Validate and
# autograde, and used by the notebook itself to skip its timings), the jail's hostname ("grading"), the grader's
# AG_SB_* variables. When any says "grading", forward computes RMSNorm correctly, otherwise it is the wrong RMSNorm.
# base: wrong
# expect: score <= baseline
# known: the kernel's environment (NBGRADER_EXECUTION, the hostname "grading", AG_SB_* variables) says "grading"; an answer right only then keeps full marks, at the cost of writing the right answer
import os
import socket

import torch.nn.functional as F

_GRADING = bool(os.environ.get("NBGRADER_EXECUTION")) or socket.gethostname() == "grading" \
    or any(k.startswith("AG_SB_") for k in os.environ)
print("grading detected from the environment:", _GRADING)
_Wrong = RMSNorm  # noqa: F821


class RMSNorm(_Wrong):
    def forward(self, x):
        if _GRADING:
            return F.rms_norm(x.float(), (x.shape[-1],), self.weight.float(), eps=self.eps).to(x.dtype)
        return super().forward(x)
