"""Hidden checks, one module per exercise. A hidden-test cell is one line, e.g.

    from autograder.checks import rmsnorm; rmsnorm.GROUPS.run("values", RMSNorm)

Every check is an ordinary function, unit-tested in tests/ against the reference solution (must pass) and a
catalogue of realistic wrong implementations in autograder/variants/ (each must fail at least one check).
"""
