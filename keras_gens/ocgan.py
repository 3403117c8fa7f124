"""``python -m keras_gens.ocgan ...``: OC-GAN's GANs against their octave variants.  The command lives in ``keras_gens.cli.ocgan``;
this module keeps the documented entry point."""
if __name__ == "__main__":
    import sys

    from keras_gens.cli.ocgan import main

    sys.exit(main())
