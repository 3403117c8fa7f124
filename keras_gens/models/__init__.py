"""Model families; each module registers its models with ``keras_gens.registry``."""
from keras_gens.models.base import DataInfo, GenerativeModel

__all__ = ["DataInfo", "GenerativeModel"]
