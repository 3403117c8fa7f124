"""``python -m keras_gens.compare ...``: the WAE-ResNet thesis's comparison of its four auto-encoders.  The command lives in ``keras_gens.cli.compare``;
this module keeps the documented entry point."""
if __name__ == "__main__":
    import sys

    from keras_gens.cli.compare import main

    sys.exit(main())
