# Class 6 (issue 20), rewriting test cells at run time: an input transformer makes the "values" cell (whose checks
# the wrong RMSNorm partly fails) run the "properties" group instead (which it passes), and the "dtypes" cell run
# "parameters". The judge reads which groups a cell runs from the cell's source as nbgrader restored it, not from
# what ran: the values and dtypes cells sent data for groups they do not run and get nothing.
# base: wrong
# expect: score <= baseline
# reason: for hidden checks it does not run


_RUN = "GROUPS" + ".run("


def _swap_group(lines):
    return [line.replace(_RUN + '"values"', _RUN + '"properties"')
            .replace(_RUN + '"dtypes"', _RUN + '"parameters"') for line in lines]


get_ipython().input_transformers_cleanup.append(_swap_group)  # noqa: F821
