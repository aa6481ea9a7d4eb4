"""What students get back, and what nbgrader reads, made robust.

- HideHiddenTests (a GenerateFeedback preprocessor, `c.HideHiddenTests.enabled`, on by default): feedback keeps each
  hidden check's one-line verdict ("[FAIL] name: what is wrong", written for students) but not the hidden-test code:
  the region between the hidden-test markers is replaced by a comment, tracebacks of graded cells are cut to their
  last line (a traceback quotes the code that raised), and the guard's signed verdict lines are dropped.
- ReadableNotebookExporter (Autograde's exporter): a submitted notebook that cannot be read (not JSON, empty, not a
  valid notebook) is graded as the unchanged release notebook with a first cell that says why; the submitted file
  itself is left as it is. nbgrader alone fails the whole submission and records no grade.
"""
from __future__ import annotations

import os
import re

import nbformat
from nbconvert.exporters import NotebookExporter
from nbconvert.exporters.exporter import ResourcesDict
from traitlets import Bool, Unicode

from nbgrader.preprocessors import NbGraderPreprocessor

from .guard import VERDICT_PREFIX

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
                                   if not line.startswith(VERDICT_PREFIX))
                if not out.text:
                    continue
            elif out.output_type == "error":
                out.traceback = [f"{out.ename}: {out.evalue}"]
            outputs.append(out)
        cell.outputs = outputs
        return cell, resources


class ReadableNotebookExporter(NotebookExporter):
    """Reads a submission that is not a readable notebook as the release notebook, saying why in a first cell."""

    def from_filename(self, filename, resources=None, **kw):
        try:
            with open(filename, encoding="utf-8") as f:
                nbformat.read(f, as_version=4)  # (validation problems such as duplicate ids are nbgrader's to fix)
        except Exception as exc:  # noqa: BLE001: any unreadable file is the student's problem, said in feedback
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
            release = self._release_copy(filename)
            if release is None:
                raise
            self.log.warning("Unreadable notebook %s (%s): grading the release notebook instead", filename, reason)
            nb = nbformat.read(release, as_version=4)
            note = nbformat.v4.new_markdown_cell(
                f"**Your submitted notebook could not be read** ({reason}). It was graded as the unchanged release "
                "notebook, so its automatically graded parts score 0. Your submitted file is kept exactly as you "
                "sent it: ask your instructor if you think this is wrong.")
            nb.cells.insert(0, note)
            # what nbconvert's from_filename would set: the notebook's folder is where its kernel runs
            resources = ResourcesDict() if resources is None else resources
            if not resources.get("metadata"):
                resources["metadata"] = ResourcesDict()
            resources["metadata"]["name"] = os.path.splitext(os.path.basename(filename))[0]
            resources["metadata"]["path"] = os.path.dirname(os.path.abspath(filename))
            return self.from_notebook_node(nb, resources=resources, **kw)
        return super().from_filename(filename, resources=resources, **kw)

    def _release_copy(self, filename):
        converter = self.parent
        coursedir = getattr(converter, "coursedir", None)
        if coursedir is None:
            return None
        assignment = os.path.basename(os.path.dirname(os.path.abspath(filename)))
        path = os.path.join(coursedir.format_path(coursedir.release_directory, ".", assignment),
                            os.path.basename(filename))
        return path if os.path.exists(path) else None
