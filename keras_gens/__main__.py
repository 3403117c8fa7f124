"""``python -m keras_gens`` lists the commands."""
print(__import__("keras_gens").__doc__)
