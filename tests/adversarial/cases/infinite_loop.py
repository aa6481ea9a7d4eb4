# A correct class, then an endless loop in the same cell: interrupted at the cell time limit, tests still run.
# base: correct
# expect: score == 8
# reason: KeyboardInterrupt
while True:
    pass
