"""``python -m keras_gens.export ...``: write a run's generator as a SavedModel.  The command lives in ``keras_gens.cli.export``;
this module keeps the documented entry point."""
if __name__ == "__main__":
    import sys

    from keras_gens.cli.export import main

    sys.exit(main())
