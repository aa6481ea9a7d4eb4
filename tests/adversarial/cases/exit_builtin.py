# IPython's exit(): the kernel stops at the end of the notebook's execution (the tests have run by then).
# base: correct
# expect: score == 8
# reason: KernelDied
exit()
