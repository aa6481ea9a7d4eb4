# The notebook is saved in nbformat 3 (an old Jupyter): read and upgraded, graded as usual.
# base: correct
# kind: transform
# expect: score == 8
import nbformat


def transform(folder, notebook):
    nb = nbformat.read(str(notebook), as_version=4)
    nbformat.write(nbformat.convert(nb, 3), str(notebook))
