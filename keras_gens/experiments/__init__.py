"""The papers' comparisons as functions: the thesis's four auto-encoders (``thesis``) and OC-GAN's
GANs against their octave variants (``ocgan``).  Their commands are ``python -m keras_gens.compare``
and ``python -m keras_gens.ocgan`` (keras_gens.cli)."""
