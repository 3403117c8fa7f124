"""``python -m keras_gens.pxd_events ...``: whole PXD events from a trained hitmap generator.  The command lives in ``keras_gens.cli.pxd_events``;
this module keeps the documented entry point."""
if __name__ == "__main__":
    import sys

    from keras_gens.cli.pxd_events import main

    sys.exit(main())
