"""keras_gens: five published generative-model systems in TensorFlow/Keras.

Entry points:
    python -m keras_gens.train NAME      train a registered model (``--list`` shows the names)
    python -m keras_gens.export RUN_DIR  write the trained generator as a SavedModel
    python -m keras_gens.generate SRC    write sample PNGs from a run or a SavedModel
"""
from keras_gens import _env

_env.import_tensorflow_quietly()

__version__ = "0.1.0"
