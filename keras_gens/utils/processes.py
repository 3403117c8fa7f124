"""Ending this process's children: the test suite's clean-up, and federated's after TFF's worker."""
from __future__ import annotations


def stop_child_processes(timeout: float = 5.0):
    """Terminate every descendant of this process, then kill those still alive after ``timeout`` seconds."""
    import psutil

    children = psutil.Process().children(recursive=True)
    for child in children:
        try:
            child.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(children, timeout=timeout)
    for child in alive:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
