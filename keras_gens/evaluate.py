"""``python -m keras_gens.evaluate ...``: FID, KID, sharpness; re-ID and PXD scores.  The command lives in ``keras_gens.cli.evaluate``;
this module keeps the documented entry point."""
if __name__ == "__main__":
    import sys

    from keras_gens.cli.evaluate import main

    sys.exit(main())
