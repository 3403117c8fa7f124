"""keras_gens.compat: which stack this is, and Keras 3 as tf.keras refused in one line."""
from types import SimpleNamespace

import pytest
import tensorflow as tf

from keras_gens import compat


def test_this_process_runs_the_keras_2_api_and_names_its_stack():
    compat.check_keras()
    assert not hasattr(tf.keras, "__version__") or tf.keras.__version__.startswith("2.")
    assert compat.stack() == ("current" if compat.TF_VERSION >= (2, 16) else "federated")


def test_keras_3_as_tf_keras_is_refused_saying_what_to_install(monkeypatch):
    monkeypatch.setattr(compat, "tf", SimpleNamespace(__version__="2.21.0", keras=SimpleNamespace(__version__="3.6.0")))
    with pytest.raises(ImportError, match=r"tf.keras is Keras 3.6.0 here.*TF_USE_LEGACY_KERAS=1.*tf-keras==2.21"):
        compat.check_keras()


def test_a_missing_tf_keras_is_refused_the_same_way(monkeypatch):
    class NoLegacyKeras:
        __version__ = "2.21.0"

        @property
        def keras(self):
            raise ImportError("Keras cannot be imported. Check that it is installed.")

    monkeypatch.setattr(compat, "tf", NoLegacyKeras())
    with pytest.raises(ImportError, match="tf_keras is not installed"):
        compat.check_keras()
