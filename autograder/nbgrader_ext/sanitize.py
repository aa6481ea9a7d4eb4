"""Sanitizing submissions that nbgrader's own sanitizing trips over."""
from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor


class DropEmptyNbgraderMetadata(NbGraderPreprocessor):
    """DeduplicateIds empties the nbgrader metadata of a duplicated cell (`{}`), and OverwriteCells (with
    add_missing_cells) then fails the whole submission with KeyError 'grade_id'. Drop such metadata: the cell becomes
    an ordinary cell, the original keeps its grade."""

    def preprocess_cell(self, cell, resources, index):
        meta = cell.metadata.get("nbgrader")
        if meta is not None and "grade_id" not in meta:
            del cell.metadata["nbgrader"]
        return cell, resources
