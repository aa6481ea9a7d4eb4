# IPython's exit(): the kernel stops a moment later, while a later cell runs (when depends on timing): that cell
# says so, the graded cells after it are "not run"; what ran before keeps its points.
# base: correct
# expect: score <= 8
# reason: the kernel stopped
# reason: KernelDied
exit()
