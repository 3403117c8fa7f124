"""Execute the notebooks at their default parameters and save them with their outputs (`make notebooks`).

    python tools/execute_notebooks.py [NAME.ipynb ...]

The kernel starts in notebooks/, as it does under Jupyter, so the experiments go to notebooks/runs/
(git-ignored; re-running resumes them). What is saved is what a reader sees on GitHub without
running anything: every cell's output, figures included. A cell that fails stops the script and
leaves the saved notebook as it was.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
# Run after the notebook, then dropped: TFF's worker process must end with the kernel.
STOP_WORKER = "from federated.tff_runtime import stop_child_processes\nstop_child_processes()"


def execute(path: Path, timeout: int = 3600) -> float:
    import nbformat
    from nbclient import NotebookClient

    sys.path.insert(0, str(REPO))
    from keras_gens.utils.io import atomic_write_text

    book = nbformat.read(path, as_version=4)
    stop = nbformat.v4.new_code_cell(STOP_WORKER)
    book.cells.append(stop)
    started = time.perf_counter()
    NotebookClient(book, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    book.cells.remove(stop)
    for cell in book.cells:  # per-cell timings would change on every run: keep only the outputs
        cell.metadata.pop("execution", None)
    atomic_write_text(path, nbformat.writes(book) + "\n")
    return time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebooks to run (default: all in notebooks/)")
    args = parser.parse_args(argv)
    paths = [NOTEBOOKS / n for n in args.names] or sorted(NOTEBOOKS.glob("*.ipynb"))
    for path in paths:
        print(f"executing {path.relative_to(REPO)} ...", flush=True)
        print(f"  saved with outputs in {execute(path):.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
