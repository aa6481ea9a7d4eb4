# An endless loop that ignores the interrupt: the kernel is stopped, the later test cells are "not run".
# base: correct
# expect: score == 0
# reason: did not stop when interrupted
import signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    pass
