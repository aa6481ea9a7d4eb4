"""The hub's system-wide nbgrader settings, read by every user's server and nbgrader command (the instructor's too).

install.sh writes HUB/etc/jupyter/nbgrader_config.py from three parts: the exchange folder it made, this file, and
the release's own nbgrader_config.py (release/transformer_block/, written by the build from the course's grading
settings: the per-cell time limit, so that Validate times a cell as grading does). On a hub that
last part must be here: Validate reads the server's configuration, not the assignment folder, and the exchange does
not release that file (the course's CourseDirectory.ignore keeps every .py file out of releases and grading).
"""
c = get_config()  # noqa: F821 (given by traitlets)

# The course, as the instructor's nbgrader_config.py names it: the exchange keeps each course's assignments in a
# folder of this name, and a student's Assignments tab lists those of this course.
c.CourseDirectory.course_id = "transformer-block-lab"
# Students fetch into ~/transformer_block, as they would without a hub.
c.Exchange.path_includes_course = False
