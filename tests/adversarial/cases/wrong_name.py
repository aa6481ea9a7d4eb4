# The notebook was saved under another name (a download duplicate).
# base: correct
# kind: transform
# expect: score == 0
# reason: No notebook named
def transform(folder, notebook):
    notebook.rename(folder / "03_rmsnorm (1).ipynb")
