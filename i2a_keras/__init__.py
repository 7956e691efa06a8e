"""i2a-keras: Imagination-Augmented Agents (Weber, Racaniere et al., 2017, arXiv:1707.06203) in Keras 3."""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
