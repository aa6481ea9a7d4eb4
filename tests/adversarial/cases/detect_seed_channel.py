# Class 5 (issue 20), telling grading apart by the probes' channel: in a grading kernel the probe module's core holds
# the seed the grader drew (autograder.probing._CHANNEL, opened by the kernel's boot); anywhere else it is
# empty. Forward computes RMSNorm correctly when the channel is open, and is the wrong RMSNorm otherwise.
# base: wrong
# expect: score <= baseline
# known: the open probe channel (autograder.probing._CHANNEL) says "grading" to any code in the kernel; an answer right only then keeps full marks, at the cost of writing the right answer
import sys

import torch.nn.functional as F

_Wrong = RMSNorm  # noqa: F821


class RMSNorm(_Wrong):
    def forward(self, x):
        core = sys.modules.get("autograder.probing")
        if core is not None and "seed" in getattr(core, "_CHANNEL", {}):
            return F.rms_norm(x.float(), (x.shape[-1],), self.weight.float(), eps=self.eps).to(x.dtype)
        return super().forward(x)
