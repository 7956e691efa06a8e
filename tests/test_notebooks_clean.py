"""The notebooks are committed clean and Colab-ready (cheap JSON checks, nothing is executed).

Executing them is CI's job: ``.ci/run`` passes ``--nbmake notebooks`` to its parallel pytest run.
"""
import json
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
EXPECTED = [
    "01_sokoban_environment",
    "02_model_free_a2c",
    "03_environment_model",
    "04_imagination_core_and_rollout_encoder",
    "05_i2a_agent",
    "06_full_sokoban_training",
    "07_minipacman",
]
COLAB_URL = "https://colab.research.google.com/github/i2a-keras/i2a-keras/blob/main/notebooks/{}.ipynb"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def _load(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _source(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def test_expected_notebooks_exist():
    names = [p.stem for p in NOTEBOOKS]
    assert names == EXPECTED, f"notebooks/ holds {names}, expected {EXPECTED}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_stored_outputs(path):
    nb = _load(path)
    dirty = [i for i, cell in enumerate(nb["cells"]) if cell["cell_type"] == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: cells {dirty} have stored outputs; clear them with "
                       f"`jupyter nbconvert --clear-output --inplace {path}`")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_colab_badge_install_cell_and_budget(path):
    cells = _load(path)["cells"]
    first = cells[0]
    assert first["cell_type"] == "markdown"
    assert COLAB_URL.format(path.stem) in _source(first), f"{path.name}: Colab badge missing or wrong"
    assert "colab-badge.svg" in _source(first)
    code = [_source(c) for c in cells if c["cell_type"] == "code"]
    install = code[0]
    assert '"google.colab" in sys.modules' in install and "pip" in install and "install" in install, \
        f"{path.name}: the first code cell must install the package on Colab (and only there)"
    assert any("I2A_KERAS_BUDGET" in c for c in code[:3]), f"{path.name}: no budget parameter cell"
    assert 'BUDGET = "small"  #@param' in install and "DRIVE_FOLDER" in install, \
        f"{path.name}: the setup cell must offer the Colab budget and Drive-folder form fields"
    assert "from i2a_keras.notebook_setup import setup" in install, \
        f"{path.name}: the setup cell must use the shared helper i2a_keras.notebook_setup"
    assert any("i2a_keras" in c and "import" in c for c in code), f"{path.name}: does not import i2a_keras"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_cell_has_a_unique_id(path):
    """nbformat 4.5 cells need ids (nbformat warns now and will refuse them later)."""
    nb = _load(path)
    ids = [cell.get("id") for cell in nb["cells"]]
    assert None not in ids, f"{path.name}: cells {[i for i, c in enumerate(ids) if c is None]} have no id"
    assert len(set(ids)) == len(ids), f"{path.name}: repeated cell ids"
