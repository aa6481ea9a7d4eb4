"""`lab`: the course's commands, each acting on the course it is run in (or --course DIR).

    lab grade       the main job: grade the bundled example class, write feedback, grades.csv and the report
    lab autograde   grade a real class: every submission in the course's submitted/, in parallel, in the jail
                    (on this machine, or on a Dask cluster with --scheduler)
    lab build       regenerate the derived files (release/, solutions/, notebooks/*.ipynb) from their sources
    lab report      the instructor's report (PNG, CSV) and score table from the course's gradebook
    lab missing     a 0 and feedback for submissions without the assignment's notebooks
    lab jail        say whether grading here runs in the bubblewrap jail

`lab COMMAND --help` says more. `python -m autograder COMMAND` is the same command line. The course commands
(autograde, report, missing) act on the current directory unless --course DIR names another, and read its
configuration as nbgrader does (the Jupyter config path, then the course's nbgrader_config.py: autograder/course.py);
`lab grade` grades the bundled example class, of the current directory's course or else this repository's.
Exit status: 0 done; 1 some or all students could not be graded, or a step failed; 2 a problem of the set-up
(not a course root, the jail unavailable for a real class, a cluster that cannot grade the course), found before
anything was changed.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger("autograder")

EXIT_FAILED, EXIT_SETUP = 1, 2


def _course(args, overrides=None):
    """The course the command acts on: --course DIR, else the current directory, as nbgrader's commands."""
    from .course import Course

    return Course.load(args.course, args.assignment, overrides)


def cmd_grade(args) -> int:
    from .example_class.grade import default_course, grade_example_class, summary

    course = _course(args) if args.course else default_course(args.assignment)
    result = grade_example_class(course, workers=args.workers, force=args.force)
    print(summary(result))
    # a score other than the golden one is a fault of the grading (or of example_class.toml): the job failed
    return EXIT_FAILED if result["golden"] or any(r.status == "failed" for r in result["results"]) else 0


def cmd_autograde(args) -> int:
    from .autograde import autograde_class
    from .jail import unsandboxed_config

    # a real class: the course it is run in, nothing else; --unsandboxed is the setting Jail.unsandboxed
    course = _course(args, unsandboxed_config() if args.unsandboxed else None)
    log.info("course %s, assignment %s, gradebook %s", course.root, course.assignment, course.db_url)
    results = autograde_class(course, students=args.student, workers=args.workers, force=args.force,
                              scheduler=args.scheduler, scheduler_file=args.scheduler_file)
    failed = [r.student for r in results if r.status == "failed"]
    print(f"graded {sum(r.status == 'graded' for r in results)}, skipped {sum(r.status == 'skipped' for r in results)}"
          f" (unchanged), failed {len(failed)}{': ' + ' '.join(failed) if failed else ''}")
    if results and len(failed) == len(results):
        log.error("no student could be graded: the reasons are above (`lab autograde -v` shows nbgrader's logs' "
                  "location: %s)", course.folder("autograded") / ".logs")
    return EXIT_FAILED if failed else 0


def cmd_build(args) -> int:
    from . import build
    from .course import Course

    course = Course.load(args.course, args.assignment)  # like nbgrader: the current directory, or --course DIR
    unknown = [s for s in args.steps if s not in build.STEPS]
    if unknown:
        log.error("unknown step(s) %s; the steps: %s", unknown, ", ".join(build.STEPS))
        return EXIT_SETUP
    build.build(course.root, course.assignment, args.steps, force=args.force)
    return 0


def cmd_report(args) -> int:
    from . import report

    course = _course(args)
    scores = report.read_scores(course.db_url, course.course_id, course.assignment)
    failures = report.check_failures(course.folder("autograded"), course.assignment)
    outputs = report.write_report(scores, failures, course.folder("reports"))
    print(report.score_table(scores))
    print(f"\nreport (PNG)     {outputs['png']}\ncheck failures   {outputs['csv']}")
    return 0


def cmd_missing(args) -> int:
    from .nbgrader_ext.missing import record_missing

    for student, name in record_missing(_course(args)):
        print(f"{student}: no {name}.ipynb: recorded 0, feedback says why")
    return 0


def cmd_jail(args) -> int:
    from . import jail

    problem = jail.probe()
    print("sandbox: available (bwrap)" if problem is None else f"sandbox: UNAVAILABLE: {problem}")
    return 0 if problem is None else 1


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="lab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=0, help="more detail: logger names, tracebacks of failed steps")
    common.add_argument("-q", "--quiet", action="count", default=0, help="warnings and errors only")
    course = argparse.ArgumentParser(add_help=False)
    course.add_argument("--course", type=Path, default=None, metavar="DIR",
                        help="the course root (default: the current directory)")
    course.add_argument("--assignment", default=None, help="the assignment (default: the course's, transformer_block)")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name, func, help_text, parents=(common, course), doc=None):
        p = sub.add_parser(name, parents=list(parents), help=help_text, description=doc or help_text,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=func)
        return p

    from . import autograde
    from .example_class import grade

    example_course = argparse.ArgumentParser(add_help=False)
    example_course.add_argument("--course", type=Path, default=None, metavar="DIR",
                                help="the course whose config and sources the example class is graded with (default: "
                                     "the current directory when it is a course root, else this repository)")
    example_course.add_argument("--assignment", default=None,
                                help="the assignment (default: the course's, transformer_block)")
    p = add("grade", cmd_grade, "the main job: grade the bundled example class end to end",
            parents=(common, example_course), doc=grade.__doc__)
    p.add_argument("--workers", "-j", type=int, default=None, help="parallel graders (default: CPU cores)")
    p.add_argument("--force", action="store_true", help="regrade every submission, changed or not")
    p = add("autograde", cmd_autograde, "grade a real class (the course's submitted/) in parallel, in the jail",
            doc=autograde.__doc__)
    p.add_argument("--workers", "-j", type=int, default=None, help="parallel workers (default: CPU cores)")
    p.add_argument("--force", action="store_true", help="regrade every student, changed or not")
    p.add_argument("--student", action="append", help="grade only this student (repeatable)")
    p.add_argument("--unsandboxed", action="store_true",
                   help="grade without the jail on purpose where it is unavailable (the setting Jail.unsandboxed, "
                        "`c.Jail.unsandboxed = True` in nbgrader_config.py, for this run): student code then runs "
                        "with your rights")
    from .cluster import FROM_DASK_CONFIG

    p.add_argument("--scheduler", nargs="?", const=FROM_DASK_CONFIG, default=None, metavar="ADDRESS",
                   help="grade on a Dask cluster: its scheduler's address (tcp://HOST:8786); alone, the address in "
                        "Dask's configuration (scheduler-address, DASK_SCHEDULER_ADDRESS). Needs a PostgreSQL "
                        "gradebook (c.CourseDirectory.db_url); --workers is then the cluster's")
    p.add_argument("--scheduler-file", default=None, metavar="FILE",
                   help="grade on the Dask cluster whose scheduler wrote FILE (`dask scheduler --scheduler-file FILE`)")
    from .build import STEPS

    p = add("build", cmd_build, "regenerate release/, solutions/ and notebooks/*.ipynb from their sources (executed "
            "notebooks only when their inputs changed)")
    p.add_argument("steps", nargs="*", help=f"steps to run, of {', '.join(STEPS)} (default: all)")
    p.add_argument("--force", action="store_true",
                   help="re-execute every solution and lesson notebook, changed or not (.build-stamps.json)")
    add("report", cmd_report, "the instructor's report and score table from the course's gradebook (the current "
                              "directory's course, or --course DIR)")
    add("missing", cmd_missing, "a 0 and feedback for submissions without the assignment's notebooks (the current "
                                "directory's course, or --course DIR)")
    add("jail", cmd_jail, "say whether grading here runs in the bubblewrap jail (exit 1 if not)", parents=(common,))
    # new-exercise: the skeleton of a new exercise (autograder/scaffold.py; docs/instructors.md, "Adding an exercise")
    from . import scaffold

    scaffold.add_arguments(add("new-exercise", scaffold.run, "write the skeleton of a new exercise: probes, judges, "
                               "variants, the notebook's cells", parents=(common,)))
    return top


def setup_logging(verbose: int, quiet: int) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format="[%(name)s] %(message)s" if verbose else "%(message)s",
                        stream=sys.stderr)
    logging.getLogger("autograder").setLevel(level)
    for noisy in ("matplotlib", "PIL", "traitlets", "asyncio", "distributed"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    setup_logging(args.verbose, args.quiet)
    from .cluster import ClusterSetupError
    from .course import NotACourse
    from .example_class.grade import GradingFailed
    from .jail import SandboxUnavailable
    from .jail.provisioner import ProvisionerNotRegistered

    try:
        return args.func(args)
    except (NotACourse, ProvisionerNotRegistered, ClusterSetupError) as exc:
        log.error("%s", exc)
        return EXIT_SETUP
    except SandboxUnavailable as exc:
        log.error("%s\nNothing was graded: no student is marked graded or failed.", exc)
        return EXIT_SETUP
    except (GradingFailed, RuntimeError, TimeoutError) as exc:  # nbgrader steps that failed say why in the message
        if args.verbose:
            log.exception("%s failed", args.command)
        else:
            log.error("%s", exc)
        return EXIT_FAILED
    except KeyboardInterrupt:
        log.error("interrupted: a re-run resumes where this one stopped")
        return 130


if __name__ == "__main__":
    sys.exit(main())
