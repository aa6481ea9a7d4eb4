"""What students get back: feedback without the hidden tests.

HideHiddenTests (a GenerateFeedback preprocessor, `c.HideHiddenTests.enabled`, on by default): feedback keeps each
hidden check's one-line verdict ("[FAIL] name: what is wrong", written for students) but not the hidden-test code: the
region between the hidden-test markers is replaced by a comment, tracebacks of graded cells are cut to their last
line (a traceback quotes the code that raised), and any probe line is dropped.
"""
from __future__ import annotations

import re

from traitlets import Bool, Unicode

from nbgrader.preprocessors import NbGraderPreprocessor

from ..protocol import is_protocol_line

HIDDEN = re.compile(r"^[ \t]*#+[ \t]*BEGIN HIDDEN TESTS.*?^[ \t]*#+[ \t]*END HIDDEN TESTS[^\n]*\n?", re.S | re.M)


class HideHiddenTests(NbGraderPreprocessor):
    enabled = Bool(True, help="Remove hidden-test code (and tracebacks quoting it) from students' feedback"
                   ).tag(config=True)
    placeholder = Unicode("# (hidden tests ran here: their results are below)\n").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if not cell.metadata.get("nbgrader", {}).get("grade"):
            return cell, resources
        if HIDDEN.search(cell.source):
            cell.source = HIDDEN.sub(self.placeholder, cell.source)
        outputs = []
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                out.text = "".join(line for line in out.text.splitlines(keepends=True)
                                   if not is_protocol_line(line))
                if not out.text:
                    continue
            elif out.output_type == "error":
                out.traceback = [f"{out.ename}: {out.evalue}"]
            outputs.append(out)
        cell.outputs = outputs
        return cell, resources
