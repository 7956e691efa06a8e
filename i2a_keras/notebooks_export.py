"""Execute the notebooks and save them as HTML pages, readable without running anything.

``python -m i2a_keras.notebooks_export`` executes every notebook in ``notebooks/`` at the
``small`` budget (the default budget of the notebooks) and writes ``site/notebooks/NAME.html``
plus an ``index.html`` (``site/`` is git-ignored; publish it anywhere static pages are served).
``--budget tiny`` makes a quick pass (seconds per notebook, nothing learned); ``--ipynb`` also
keeps the executed notebooks with their outputs next to the pages. Needs the ``notebooks``
extra (``pip install -e ".[notebooks]"``: JupyterLab brings nbconvert and nbclient).
"""
from __future__ import annotations

import argparse
import html
import os
import sys
import time
from pathlib import Path

from i2a_keras.notebook_setup import BUDGETS, find_repo_root

__all__ = ["export", "main"]


def export(paths, out_dir, budget: str = "small", timeout: int = 7200, keep_ipynb: bool = False) -> list:
    """Execute each notebook in ``paths`` (its own folder as working directory) with
    ``I2A_KERAS_BUDGET=budget`` and write ``out_dir/NAME.html``; returns ``(name, seconds)``."""
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import ExecutePreprocessor

    if budget not in BUDGETS:
        raise ValueError(f"--budget must be one of {BUDGETS}, got {budget!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    previous = os.environ.get("I2A_KERAS_BUDGET")
    os.environ["I2A_KERAS_BUDGET"] = budget  # the kernel inherits the environment
    done = []
    try:
        for path in map(Path, paths):
            t0 = time.time()
            print(f"executing {path.name} (budget {budget}) ...", flush=True)
            nb = nbformat.read(path, as_version=4)
            ExecutePreprocessor(timeout=timeout, kernel_name="python3").preprocess(
                nb, {"metadata": {"path": str(path.resolve().parent)}})
            body, _ = HTMLExporter().from_notebook_node(nb)
            (out_dir / f"{path.stem}.html").write_text(body, encoding="utf-8")
            if keep_ipynb:
                nbformat.write(nb, out_dir / path.name)
            seconds = time.time() - t0
            done.append((path.stem, seconds))
            print(f"  -> {out_dir / (path.stem + '.html')} ({seconds:.0f} s)", flush=True)
    finally:
        if previous is None:
            os.environ.pop("I2A_KERAS_BUDGET", None)
        else:
            os.environ["I2A_KERAS_BUDGET"] = previous
    items = "\n".join(f'<li><a href="{html.escape(n)}.html">{html.escape(n)}</a> ({s:.0f} s)</li>'
                      for n, s in done)
    (out_dir / "index.html").write_text(
        f"<!doctype html><meta charset='utf-8'><title>i2a-keras notebooks</title>"
        f"<h1>i2a-keras notebooks</h1><p>Executed at the <code>{budget}</code> budget on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.</p><ul>{items}</ul>\n",
        encoding="utf-8")
    return done


def main(argv=None) -> int:
    root = find_repo_root()
    parser = argparse.ArgumentParser(prog="python -m i2a_keras.notebooks_export",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebooks to export (default: notebooks/*.ipynb)")
    parser.add_argument("--budget", default="small", choices=BUDGETS)
    parser.add_argument("--out", default=str(root / "site" / "notebooks"), help="output folder")
    parser.add_argument("--timeout", type=int, default=7200, help="seconds per cell")
    parser.add_argument("--ipynb", action="store_true", help="also keep the executed .ipynb files")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((root / "notebooks").glob("*.ipynb"))
    if not paths:
        print("no notebooks found", file=sys.stderr)
        return 1
    export(paths, args.out, args.budget, args.timeout, args.ipynb)
    print(f"open {Path(args.out) / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
