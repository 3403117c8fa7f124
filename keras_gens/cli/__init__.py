"""What every command-line entry point shares: user errors as one message, Ctrl-C as a clean stop."""
from __future__ import annotations

import errno
import sys
from typing import Callable

from keras_gens.errors import UserError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
# A write the machine refused: a full disk or quota, a read-only file system, a file-size limit.
WRITE_REFUSED = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)


def run_cli(work: Callable[[], int]) -> int:
    try:
        return work()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:
        if exc.errno not in WRITE_REFUSED:
            raise
        where = f" {exc.filename}" if exc.filename else ""
        print(f"error: could not write{where}: {exc.strerror or exc}. Every write is atomic, so the files written "
              "before (checkpoints, tables) are intact; free space and re-run the same command to resume.",
              file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("\ninterrupted: the last checkpoint is intact; re-run the same command to resume from it.",
              file=sys.stderr)
        return EXIT_INTERRUPTED
