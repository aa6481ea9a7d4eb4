# The kernel process exits from under nbgrader (nbgrader alone would drop the whole submission).
# base: correct
# expect: score == 0
# reason: exited with status 3
import os
os._exit(3)
