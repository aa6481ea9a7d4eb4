# sys.exit in a cell: IPython turns it into an error of this cell only; the tests run as usual.
# base: correct
# expect: score == 8
# reason: SystemExit
import sys
sys.exit(0)
