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


def require_paths(paths: dict):
    """Refuse a path argument given as the empty string: it would quietly mean the current folder."""
    for flag, value in (paths or {}).items():
        if value is not None and not str(value).strip():
            raise UserError(f"{flag} is empty: give a path")


def run_cli(work: Callable[[], int], paths: dict | None = None) -> int:
    """Run a command's ``work``: user errors (and refused writes) as one line and exit 2, Ctrl-C as exit 130.
    ``paths``: the command's path arguments by flag, refused when empty."""
    try:
        require_paths(paths)
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
