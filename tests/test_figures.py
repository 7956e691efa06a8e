"""The figure scripts in assets/: what they plot from a run's records."""
import json

from i2a_testing import load_script


def test_boxoban_curves_leave_out_windows_cut_by_a_stop(tmp_path):
    """A stopped run logs a last, short window (mostly solves); the curve must not show it as a spike."""
    curves = load_script("make_boxoban_curves", folder="assets")
    rows = [{"frames": 100, "charts/solve_rate": 0.4, "charts/episodes": 500},
            {"frames": 130, "charts/solve_rate": 0.9, "charts/episodes": 300, "end_of_session": True},
            {"frames": 200, "charts/solve_rate": 0.5, "charts/episodes": 20},
            {"frames": 300, "charts/solve_rate": 0.45, "charts/episodes": 400},
            {"frames": 300, "losses/total": 1.0}]
    assert [m["frames"] for m in curves.plotted_windows(rows)] == [100, 300]
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "eval.jsonl").write_text(json.dumps({"frames": 300, "eval/solve_rate": 0.2}) + "\n")
    out = tmp_path / "curves.png"
    curves.main(["--run", f"a run={run}:50", "--out", str(out)])
    assert out.stat().st_size > 0
