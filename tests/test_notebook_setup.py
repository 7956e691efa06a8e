"""The notebooks' shared setup call (i2a_keras.notebook_setup)."""
from pathlib import Path

import pytest

from i2a_keras import notebook_setup
from i2a_keras.notebook_setup import resolve_budget, setup

REPO = Path(__file__).resolve().parents[1]


def test_budget_environment_variable_wins(monkeypatch):
    monkeypatch.setenv("I2A_KERAS_BUDGET", "tiny")
    assert resolve_budget("paper") == "tiny"
    monkeypatch.delenv("I2A_KERAS_BUDGET")
    assert resolve_budget("paper") == "paper"
    assert resolve_budget(None) == "small"
    with pytest.raises(ValueError, match="budget"):
        resolve_budget("huge")


def test_setup_finds_repository_and_local_runs_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("I2A_KERAS_BUDGET", raising=False)
    monkeypatch.chdir(REPO / "notebooks")
    s = setup("tiny", drive_folder=str(tmp_path / "my_runs"), quiet=True)
    assert s.budget == "tiny" and s.root == REPO and s.assets == REPO / "assets"
    assert s.runs == tmp_path / "my_runs" and s.runs.is_dir()
    assert not s.on_colab and isinstance(s.gpus, tuple)
    assert s.pick(tiny=1, small=2) == 1 and s.pick(1, 2, 3) == 1
    monkeypatch.setattr(notebook_setup, "_runs_folder", lambda root, folder, colab: tmp_path / "r")
    assert setup("small", quiet=True).pick(1, 2) == 2
