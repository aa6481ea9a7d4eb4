#!/bin/sh
# Set-up for sandboxed grading on Debian/Ubuntu (run as root, e.g. from .ci/run): bubblewrap for the jail,
# util-linux for setpriv (present on Debian). Then say whether grading here is sandboxed (exit 1 if not).
set -e
if ! command -v bwrap >/dev/null 2>&1 || ! command -v setpriv >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap util-linux
fi
exec "${PYTHON:-python}" -m autograder.sandbox
