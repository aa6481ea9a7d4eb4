# Fork until refused, every child staying alive: the process limit stops it, the pid namespace ends the children.
# The kernel itself may then fail to start threads in later cells: those cells fail (its own doing), nothing else.
# base: correct
# expect: score <= 8
# reason: fork refused
import os
import time
children = 0
try:
    while True:
        if os.fork() == 0:
            while True:
                time.sleep(1)
        children += 1
except OSError as exc:
    print(f"fork refused after {children} children: {exc}")
