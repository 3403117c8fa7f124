"""Test-session set-up: quiet TF, no downloads, two logical CPUs, no leftover processes."""
import os
import shutil
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["KERAS_GENS_OFFLINE"] = "1"  # a loader that would download must say so instead
# The user's FID weights and statistics cache must not change what the tests see.
os.environ["KERAS_GENS_HOME"] = tempfile.mkdtemp(prefix="keras_gens_test_home-")
os.environ.pop("KERAS_GENS_FID_WEIGHTS", None)

import keras_gens  # noqa: E402,F401  (imports TensorFlow quietly)
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Two logical CPU devices give a real two-replica MirroredStrategy on any machine.
# This must happen before TensorFlow initialises its devices, so it runs at import.
_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(_cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)

from tests.helpers import HAS_FEDERATED, stop_child_processes  # noqa: E402

# Without TFF (the current stack) the modules that are all federated are not even collected: they import it.
collect_ignore = [] if HAS_FEDERATED else ["test_federated.py", "test_partition.py", "test_notebooks.py",
                                           "test_install.py"]


def pytest_collection_modifyitems(config, items):
    """Tests marked ``federated`` need TFF: skipped, saying so, on the current stack."""
    if HAS_FEDERATED:
        return
    skip = pytest.mark.skip(reason="needs the federated stack (TensorFlow Federated): make install")
    for item in items:
        if item.get_closest_marker("federated"):
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _no_leftover_processes():
    """Child processes (TFF's worker_binary, test workers) must not outlive the suite:
    a leftover that holds stdout open makes CI wait until it is killed."""
    yield
    stop_child_processes()
    shutil.rmtree(os.environ["KERAS_GENS_HOME"], ignore_errors=True)


@pytest.fixture(scope="session")
def two_replicas():
    """The one two-replica MirroredStrategy of the test session: a second strategy over the same
    devices in one process restarts the collective instance keys and collides with the first's."""
    from keras_gens.distribute import make_strategy

    strategy = make_strategy("mirrored", ["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    return strategy
