# The notebook file is not JSON (cut in the middle).
# base: correct
# kind: transform
# expect: score == 0
# reason: could not be read
def transform(folder, notebook):
    text = notebook.read_text()
    notebook.write_text(text[: len(text) // 2])
