"""Autograde's exporter, for submissions nbgrader cannot read.

ReadableNotebookExporter: a submitted notebook that cannot be read (not JSON, empty, not a valid notebook) is graded
as the unchanged release notebook with a first cell that says why; the submitted file itself is left as it is.
nbgrader alone fails the whole submission and records no grade.
"""
from __future__ import annotations

import os

import nbformat
from nbconvert.exporters import NotebookExporter
from nbconvert.exporters.exporter import ResourcesDict


class ReadableNotebookExporter(NotebookExporter):
    """Reads a submission that is not a readable notebook as the release notebook, saying why in a first cell."""

    def from_filename(self, filename, resources=None, **kw):
        try:
            with open(filename, encoding="utf-8") as f:
                nbformat.read(f, as_version=4)  # (validation problems such as duplicate ids are nbgrader's to fix)
        except Exception as exc:  # noqa: BLE001 -- any unreadable file is the student's problem, said in feedback
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
