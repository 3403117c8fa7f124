"""The simulation notebooks run end to end (small parameters), and leave no TFF worker behind."""
import time

import pytest

from tests.helpers import REPO

NOTEBOOKS = {
    "fedavg_vs_bi_fedavg.ipynb": {"ROUNDS": 3, "NUM_CLIENTS": 6, "HIDDEN_UNITS": [16]},
    "fedavg_bagan_gp.ipynb": {"ROUNDS": 2, "NUM_CLIENTS": 3, "GAN_EPOCHS": 1, "AE_EPOCHS": 1},
}
# Run in the kernel after the notebook: the kernel's TFF worker must end with it.
STOP_WORKER = "from federated.tff_runtime import stop_child_processes\nstop_child_processes()"


def _orphaned_workers(since: float):
    import psutil

    return [p for p in psutil.process_iter(["name", "cmdline", "create_time", "ppid"])
            if "worker_binary" in " ".join(p.info["cmdline"] or []) and p.info["create_time"] >= since
            and p.info["ppid"] == 1]


# The BAGAN-GP notebook trains a GAN per client: over a minute on 2 cores, so it runs in make test-slow.
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if "bagan" in n else n
                                  for n in sorted(NOTEBOOKS)])
def test_notebook_runs(name, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    book = nbformat.read(REPO / "notebooks" / name, as_version=4)
    params = [c for c in book.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "each notebook has one cell tagged 'parameters'"
    values = {**NOTEBOOKS[name], "OUT": str(tmp_path / "out")}
    params[0].source += "\n# test values\n" + "\n".join(f"{k} = {v!r}" for k, v in values.items())
    book.cells.append(nbformat.v4.new_code_cell(STOP_WORKER))
    started = time.time()
    NotebookClient(book, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # raises if a cell fails
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    images = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert images, "the notebook draws its figures"
    assert (tmp_path / "out").is_dir()
    assert not _orphaned_workers(started)


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_committed_notebooks_carry_the_outputs_of_a_run_at_their_defaults(name):
    """Saved by `make notebooks`: a reader on GitHub sees every cell's output, figures included."""
    import nbformat

    book = nbformat.read(REPO / "notebooks" / name, as_version=4)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "every code cell was executed"
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "in order, in one kernel"
    outputs = [o for c in code for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2, "the figures are saved"
    params = next(c for c in code if "parameters" in c.metadata.get("tags", []))
    assert "# test values" not in params.source  # saved at the defaults, not the test's small values
    assert "stop_child_processes" not in "".join(c.source for c in code)
