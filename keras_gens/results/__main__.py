"""``python -m keras_gens.results``: see ``keras_gens.results``."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_gens.results import main  # noqa: E402

sys.exit(main())
