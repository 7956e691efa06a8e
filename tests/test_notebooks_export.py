"""python -m i2a_keras.notebooks_export: executes notebooks and writes HTML pages."""
import json

from i2a_keras.notebooks_export import main


def test_export_executes_and_writes_html(tmp_path, monkeypatch):
    monkeypatch.setenv("I2A_KERAS_BUDGET", "small")
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {},
                     "outputs": [], "source": ["import os\n", "print('budget', os.environ['I2A_KERAS_BUDGET'])"]}],
          "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
          "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "demo.ipynb"
    path.write_text(json.dumps(nb))
    assert main([str(path), "--budget", "tiny", "--out", str(tmp_path / "site"), "--ipynb"]) == 0
    page = (tmp_path / "site" / "demo.html").read_text()
    assert "budget tiny" in page
    assert "demo.html" in (tmp_path / "site" / "index.html").read_text()
    executed = json.loads((tmp_path / "site" / "demo.ipynb").read_text())
    assert executed["cells"][0]["outputs"]
    import os
    assert os.environ["I2A_KERAS_BUDGET"] == "small"  # restored
