"""``python -m keras_gens.generate ...``: write generated images as PNG files.  The command lives in ``keras_gens.cli.generate``;
this module keeps the documented entry point."""
if __name__ == "__main__":
    import sys

    from keras_gens.cli.generate import main

    sys.exit(main())
