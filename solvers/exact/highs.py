"""A silent HiGHS instance.

highspy prints its banner to the C-level standard output when the first ``Highs`` object of a
process is built, before any option can turn it off; in `placement solve` that banner would
land in the middle of the user's output (or in a piped solution). The first construction is
therefore done with file descriptor 1 pointed at /dev/null.
"""

from __future__ import annotations

import os
import sys

import highspy

_banner_shown = False


def new_highs() -> highspy.Highs:
    """A ``highspy.Highs`` with logging off."""
    global _banner_shown
    if _banner_shown:
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
            h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(devnull)
        _banner_shown = True
    h.setOptionValue("output_flag", False)
    return h
