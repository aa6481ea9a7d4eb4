# Class 2 (issue 20), the wire: where the probe line travels. The student's code intercepts its kernel's stdout
# before every cell (IPython restores sys.stdout.write at the end of each cell, so the patch is made again in a
# pre_run_cell hook):
# the values cell's probe line goes to stderr instead (the judge reads both streams of a graded cell: the same
# wrong data, the same points), the parameters cell's is published as display data (not a stream: the judge gets no
# data, 0), the other cells' lines pass. Moving the line never adds a point.
# base: wrong
# expect: score <= baseline
# reason: sent back no data
import sys

from IPython.display import publish_display_data

_ip = get_ipython()  # noqa: F821


def _divert(*args, **kwargs):
    write = sys.stdout.write

    def diverting_write(text):
        if isinstance(text, str) and text.startswith("[probe rmsnorm values "):
            return sys.stderr.write(text)
        if isinstance(text, str) and text.startswith("[probe rmsnorm parameters "):
            publish_display_data({"text/plain": text})
            return len(text)
        return write(text)

    sys.stdout.write = diverting_write


_ip.events.register("pre_run_cell", _divert)
