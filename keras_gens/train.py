"""``python -m keras_gens.train ...``: train a registered model.  The command lives in ``keras_gens.cli.train``;
this module keeps the documented entry point."""
if __name__ == "__main__":
    import sys

    from keras_gens.cli.train import main

    sys.exit(main())
