# Cheat: errors are hidden (no traceback shown), so that failing test cells look clean.
# base: wrong
# expect: score <= baseline
import sys

ip = get_ipython()  # noqa: F821
ip.showtraceback = lambda *args, **kwargs: None
ip._showtraceback = lambda *args, **kwargs: None
ip.showsyntaxerror = lambda *args, **kwargs: None
sys.excepthook = lambda *args: None
