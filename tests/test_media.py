"""Figures and GIFs (``i2a_keras.training.media``) leave the caller's matplotlib backend alone."""
import os

import matplotlib
import numpy as np
import pytest

from i2a_keras.training.media import plot_learning_curve, save_gif


def test_plot_keeps_the_callers_backend(tmp_path):
    matplotlib.use("svg")  # a notebook's inline backend stands for any non-Agg backend
    metrics = [{"frames": f, "charts/episodic_return": -1.0 + f / 1000, "charts/solve_rate": f / 4000}
               for f in (0, 1000, 2000)]
    evals = [{"frames": 2000, "eval/mean_return": 1.0, "eval/solve_rate": 0.5}]
    path = plot_learning_curve(metrics, evals, str(tmp_path / "curve.png"), title="t")
    assert os.path.getsize(path) > 1000
    assert matplotlib.get_backend().lower() == "svg"


def test_save_gif_round_trip_and_empty_input(tmp_path):
    import imageio.v3 as iio

    frames = [np.full((8, 8, 3), v, np.uint8) for v in (0, 128, 255)]
    path = save_gif(frames, str(tmp_path / "a.gif"))
    assert iio.imread(path, index=None).shape == (3, 8, 8, 3)
    with pytest.raises(ValueError):
        save_gif([], str(tmp_path / "b.gif"))
