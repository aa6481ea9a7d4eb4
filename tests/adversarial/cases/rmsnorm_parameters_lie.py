# Class 4 (issue 20), self-reported structure: the scale is not registered as a parameter (rmsnorm/wrong/
# scale_not_parameter) but the class makes it look like one: the tensor requires grad and parameters() (and
# named_parameters()) list it. The checks judge what the listed parameter does (one gradient step on it must move
# the output as the reference's does), not how it is registered: if it passes, what is left wrong is invisible to
# every check (state_dict() and .to(device) miss the scale).
# base: rmsnorm/wrong/scale_not_parameter
# baseline: rmsnorm_scale_not_parameter_baseline
# expect: score <= baseline
# known: parameters()/named_parameters() are the module's own word: a scale that is a plain leaf tensor listed by an overridden parameters() passes every check (it is learned, but missing from state_dict and .to(device))
_Honest = RMSNorm  # noqa: F821


class RMSNorm(_Honest):
    def __init__(self, d_model, eps=1e-6):
        super().__init__(d_model, eps)
        self.weight.requires_grad_()

    def parameters(self, recurse=True):
        return iter([self.weight])

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        return iter([(prefix + "weight", self.weight)])
