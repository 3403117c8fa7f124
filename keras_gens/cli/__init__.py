"""What every command-line entry point shares: user errors as one message, Ctrl-C as a clean stop."""
from __future__ import annotations

import errno
import os
import sys
from typing import Callable

from keras_gens.errors import Interrupted, UserError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
# A write the machine refused, and what to do about it.
NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)   # a full disk or quota, a file-size limit
READ_ONLY = (errno.EROFS,)
NO_PERMISSION = (errno.EACCES, errno.EPERM)
WRITE_REFUSED = NO_SPACE + READ_ONLY + NO_PERMISSION
# Set to see the traceback behind a one-line message (for a bug report).
TRACEBACK_ENV = "KERAS_GENS_TRACEBACK"


def refused_write_message(exc: OSError) -> str:
    where = f" {exc.filename}" if exc.filename else ""
    if exc.errno in NO_SPACE:
        advice = "free space and re-run the same command to resume"
    elif exc.errno in READ_ONLY:
        advice = "the file system is read-only: write to another folder (--out), or remount it writable"
    else:
        advice = "no permission to write there: choose another folder (--out), or change its permissions"
    return (f"error: could not write{where}: {exc.strerror or exc}. Every write is atomic, so the files written "
            f"before (checkpoints, tables) are intact; {advice}.")


def run_cli(work: Callable[[], int]) -> int:
    try:
        return work()
    except UserError as exc:
        if os.environ.get(TRACEBACK_ENV):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:
        if exc.errno not in WRITE_REFUSED or os.environ.get(TRACEBACK_ENV):
            raise
        print(refused_write_message(exc), file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt as exc:
        if isinstance(exc, Interrupted) and exc.args:
            print(f"\n{exc.args[0]}", file=sys.stderr)
        else:
            print("\ninterrupted: every file written so far is complete (writes are atomic); re-run the same "
                  "command to continue.", file=sys.stderr)
        return EXIT_INTERRUPTED
