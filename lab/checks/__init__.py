"""Hidden checks, one module per exercise. A hidden-test cell is one line, e.g.

    from lab.checks import rmsnorm as _checks; _checks.GROUPS.run("values", RMSNorm)

Every check is an ordinary function, unit-tested in tests/ against the reference solution (must pass) and a
catalogue of realistic wrong implementations in tests/variants/ (each must fail at least one check).
"""
