"""i2a-keras: Imagination-Augmented Agents (Weber, Racaniere et al., 2017, arXiv:1707.06203) in Keras 3.

Importing the package registers the Sokoban env ``i2a_keras/Sokoban-v0`` with gymnasium. The Keras
backend defaults to TensorFlow; set ``KERAS_BACKEND=jax`` before the first import for JAX.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from i2a_keras.backends import jax_compilation_cache  # noqa: E402

jax_compilation_cache.configure()

from i2a_keras import envs  # noqa: E402,F401  (registers i2a_keras/Sokoban-v0)

__version__ = "0.1.0"
