"""The grader side of the hidden checks: one module per exercise, the judges of `lab/checks/<exercise>.py`'s
probes, with the reference implementations they compare against. Imported by nbgrader's process (and by the unit
tests, and where no grading channel is open); never staged into the grading jail."""
