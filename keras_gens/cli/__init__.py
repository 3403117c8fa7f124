"""What every command-line entry point shares: user errors as one message, Ctrl-C as a clean stop."""
from __future__ import annotations

import sys
from typing import Callable

from keras_gens.errors import UserError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def run_cli(work: Callable[[], int]) -> int:
    try:
        return work()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("\ninterrupted: the last completed epoch's checkpoint is intact; "
              "re-run the same command to resume from it.", file=sys.stderr)
        return EXIT_INTERRUPTED
