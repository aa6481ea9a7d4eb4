# The notebook file is empty.
# kind: transform
# expect: score == 0
# reason: could not be read
def transform(folder, notebook):
    notebook.write_text("")
