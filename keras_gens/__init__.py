"""keras_gens: five published generative-model systems in TensorFlow/Keras.

Entry points (``keras-gens COMMAND ...`` runs each the same way: keras-gens --help lists them):
    python -m keras_gens.train NAME      train a registered model (``--list`` shows the names)
    python -m keras_gens.export RUN_DIR  write the trained generator as a SavedModel
    python -m keras_gens.generate SRC    write sample PNGs from a run or a SavedModel
    python -m keras_gens.evaluate fid --fake SRC [--real SPEC]   FID, KID or sharpness of generated images
    python -m keras_gens.compare         the WAE-ResNet thesis's comparison of its four auto-encoders
    python -m keras_gens.ocgan           OC-GAN's GANs against their octave variants
"""
from keras_gens import _env

_env.import_tensorflow_quietly()

from keras_gens import compat  # noqa: E402  (after TensorFlow's import: it checks which Keras came)

compat.check_keras()

__version__ = "0.1.0"
