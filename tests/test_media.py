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


def test_tile_frames_places_each_sequence_and_holds_the_shorter_ones():
    from i2a_keras.training.media import tile_frames

    short = [np.full((2, 3, 3), 10, np.uint8), np.full((2, 3, 3), 20, np.uint8)]
    long = [np.full((2, 3, 3), v, np.uint8) for v in (30, 40, 50)]
    frames = tile_frames([[short, long], [None, long]], border=1, fill=255)
    assert len(frames) == 3 and frames[0].shape == (2 * 3 + 1, 2 * 4 + 1, 3)
    last = frames[-1]
    assert (last[1:3, 1:4] == 20).all()        # row 0, col 0: held on its last frame
    assert (last[1:3, 5:8] == 50).all()        # row 0, col 1
    assert (last[4:6, 1:4] == 255).all()       # row 1, col 0: empty cell
    assert (frames[1][4:6, 5:8] == 40).all()   # row 1, col 1 at step 1
    assert (last[0] == 255).all() and (last[:, 4] == 255).all()  # borders
    with pytest.raises(ValueError, match="one shape"):
        tile_frames([[short, [np.zeros((4, 4, 3), np.uint8)]]])
    with pytest.raises(ValueError, match="non-empty"):
        tile_frames([[None]])
