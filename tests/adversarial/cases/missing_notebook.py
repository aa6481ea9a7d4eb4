# The submission has no notebook at all (only another file).
# kind: transform
# expect: score == 0
# reason: No notebook named
def transform(folder, notebook):
    notebook.unlink()
    (folder / "notes.txt").write_text("I could not finish")
