"""nbgrader settings for Validate, shipped with the notebooks of this assignment: with them, Validate gives a
cell the time grading gives it.

nbgrader reads this file from the folder it is started in: run `nbgrader validate NN_name.ipynb` in this folder, or
start JupyterLab in this folder (`jupyter lab`) and use the Validate button. Grading also limits memory and time in
ways Validate cannot copy.

Written from the course's settings when the assignment was released; editing it changes only your own Validate.
"""
c = get_config()  # noqa: F821 (given by traitlets when nbgrader reads this file)

# The time limit of one cell, in seconds, as when grading.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
