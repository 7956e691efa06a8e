"""The one setup call shared by the notebooks in ``notebooks/``.

Every notebook starts with a Colab form cell (``BUDGET`` and ``DRIVE_FOLDER`` as ``#@param``
fields) that installs the package on Colab and then calls::

    from i2a_keras.notebook_setup import setup
    S = setup(BUDGET, DRIVE_FOLDER)
    BUDGET, ROOT, ASSETS, RUNS = S.budget, S.root, S.assets, S.runs

``setup`` resolves the training budget (the ``I2A_KERAS_BUDGET`` environment variable, when set,
wins over the form, so ``I2A_KERAS_BUDGET=tiny pytest --nbmake notebooks`` runs every notebook in
seconds), finds the repository (``assets/`` holds the pretrained models the notebooks load),
chooses the folder for run directories (``runs/notebooks`` in the repository, or a Google Drive
folder on Colab so that runs survive the session) and says whether a GPU is visible, with a hint to
switch Colab to a GPU runtime when there is none.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BUDGETS", "NotebookSetup", "setup", "find_repo_root", "resolve_budget", "gpu_devices"]

BUDGETS = ("tiny", "small", "paper")
DRIVE_MOUNT = "/content/drive"


@dataclass
class NotebookSetup:
    """What :func:`setup` resolved: ``budget`` (tiny/small/paper), the repository ``root``, its
    ``assets`` folder, the ``runs`` folder for run directories, ``on_colab`` and ``gpus`` (the
    accelerators the Keras backend sees, as strings)."""

    budget: str
    root: Path
    assets: Path
    runs: Path
    on_colab: bool
    gpus: tuple

    def pick(self, tiny, small, paper=None):
        """The value for the current budget (``paper`` defaults to ``small``'s)."""
        return {"tiny": tiny, "small": small, "paper": small if paper is None else paper}[self.budget]


def find_repo_root(start=None) -> Path:
    """The repository root (holds ``pyproject.toml`` and ``i2a_keras/``), searched upwards from
    ``start`` (the working directory), then from this file; ``start`` itself if none is found."""
    start = Path(start or Path.cwd()).resolve()
    for base in (start, Path(__file__).resolve().parent):
        for path in (base, *base.parents):
            if (path / "pyproject.toml").is_file() and (path / "i2a_keras").is_dir():
                return path
    return start


def resolve_budget(budget: str | None = None) -> str:
    """``I2A_KERAS_BUDGET`` if set, else ``budget``, else ``"small"``; checked against BUDGETS."""
    value = os.environ.get("I2A_KERAS_BUDGET") or budget or "small"
    if value not in BUDGETS:
        raise ValueError(f"the budget must be one of {BUDGETS}, got {value!r} "
                         "(from I2A_KERAS_BUDGET or the notebook's BUDGET field)")
    return value


def gpu_devices() -> tuple:
    """The GPUs the current Keras backend sees (TensorFlow or JAX), as strings."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        return tuple(d.name for d in tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax
        return tuple(str(d) for d in jax.devices() if d.platform == "gpu")
    return ()


def _runs_folder(root: Path, drive_folder: str, on_colab: bool) -> Path:
    if not drive_folder:
        return root / "runs" / "notebooks"  # runs/ is git-ignored
    if on_colab:
        from google.colab import drive  # noqa: F401  (only on Colab)
        if not os.path.isdir(os.path.join(DRIVE_MOUNT, "MyDrive")):
            drive.mount(DRIVE_MOUNT)
        return Path(DRIVE_MOUNT) / "MyDrive" / drive_folder
    return Path(drive_folder).expanduser().resolve()  # elsewhere: a plain local folder


def setup(budget: str | None = None, drive_folder: str = "", quiet: bool = False) -> NotebookSetup:
    """Resolve the budget, repository, runs folder and GPUs; print one line (and a GPU hint).

    Args:
      budget: the notebook's form value; the ``I2A_KERAS_BUDGET`` environment variable wins.
      drive_folder: on Colab, a folder under ``MyDrive`` for run directories (Drive is mounted on
        first use); elsewhere a local folder; empty: ``runs/notebooks`` in the repository.
      quiet: print nothing.
    """
    budget = resolve_budget(budget)
    on_colab = "google.colab" in sys.modules
    root = find_repo_root()
    runs = _runs_folder(root, drive_folder.strip(), on_colab)
    runs.mkdir(parents=True, exist_ok=True)
    gpus = gpu_devices()
    result = NotebookSetup(budget=budget, root=root, assets=root / "assets", runs=runs,
                           on_colab=on_colab, gpus=gpus)
    if not quiet:
        import keras
        device = f"GPU x{len(gpus)}" if gpus else "CPU only"
        print(f"budget={budget}  backend={keras.backend.backend()} ({device})  repository={root}  "
              f"runs={runs}")
        if not gpus and (on_colab or budget == "paper"):
            print("No GPU visible. On Colab: Runtime > Change runtime type > a GPU, then run the "
                  "notebook again. The tiny and small budgets are sized for a CPU; paper needs a GPU.")
    return result
