"""``python -m keras_gens.results``: the command is keras_gens.cli.results."""
if __name__ == "__main__":
    import os
    import sys

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from keras_gens.cli.results import main

    sys.exit(main())
