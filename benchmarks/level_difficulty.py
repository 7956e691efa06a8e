"""How hard are the levels of a Boxoban set? A solver's view, beside the agents' solve rates.

Draws ``--levels`` levels from each set (a seeded sample without replacement) and solves each
with ``i2a_keras.envs.solver.solve``, a breadth-first search over pushes: the minimum number of
pushes, the moves of the returned solution (which walks between pushes along shortest paths, so
an upper bound on the fewest moves), and the states the search expanded (its effort). Prints one
markdown row per set and writes the per-level figures to ``--out``.

    V=../shared/data/boxoban-levels
    python benchmarks/level_difficulty.py --levels 100 \\
        --set "unfiltered valid=$V/unfiltered/valid" --set "medium valid=$V/medium/valid" \\
        --set "hard=$V/hard" --out results/boxoban_level_difficulty.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def describe(fixed, state, levels: int, seed: int, max_states: int, step_limit: int) -> dict:
    """Solve a seeded sample of ``levels`` of the levels ``(fixed, state)``; summary and rows."""
    from i2a_keras.envs.solver import solve

    if not 0 < levels <= len(fixed):
        raise ValueError(f"--levels must be in 1..{len(fixed)} for this set, got {levels}")
    index = np.random.default_rng(seed).choice(len(fixed), levels, replace=False)
    rows = []
    for i in index:
        result = solve(fixed[i], state[i], max_states=max_states)
        rows.append({"index": int(i), "status": result.status, "pushes": result.pushes,
                     "moves": None if result.actions is None else len(result.actions),
                     "explored": result.explored})
    solved = [r for r in rows if r["status"] == "solved"]
    moves = np.array([r["moves"] for r in solved])
    summary = {"levels": levels, "solved": len(solved),
               "statuses": dict(Counter(r["status"] for r in rows))}
    if solved:
        summary.update(
            median_pushes=float(np.median([r["pushes"] for r in solved])),
            median_moves=float(np.median(moves)), p90_moves=round(float(np.percentile(moves, 90)), 1),
            over_step_limit=int((moves > step_limit).sum()),
            median_explored=float(np.median([r["explored"] for r in solved])),
            p90_explored=round(float(np.percentile([r["explored"] for r in solved], 90))))
    return {"summary": summary, "rows": rows}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", action="append", required=True, metavar="NAME=FOLDER",
                        help="a Boxoban level folder (repeatable)")
    parser.add_argument("--levels", type=int, default=100, help="levels drawn per set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-states", type=int, default=300_000,
                        help="the solver's expansion budget per level ('limit' past it)")
    parser.add_argument("--step-limit", type=int, default=120,
                        help="count the solutions longer than this many moves (the episode limit)")
    parser.add_argument("--out", default=None, help="JSON file for the summaries and every level")
    args = parser.parse_args(argv)
    from i2a_keras.envs.boxoban import load_boxoban

    sets = {}
    for item in args.set:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            parser.error(f"--set takes NAME=FOLDER, got {item!r}")
        sets[name] = folder
    report = {"levels": args.levels, "seed": args.seed, "max_states": args.max_states,
              "step_limit": args.step_limit, "sets": {}}
    print(f"| set | solved | median pushes | median moves | 90th pct moves | over {args.step_limit} moves "
          f"| median states expanded | 90th pct states |\n|---|---|---|---|---|---|---|---|")
    for name, folder in sets.items():
        fixed, state = load_boxoban(folder)
        start = time.time()
        try:
            result = describe(fixed, state, args.levels, args.seed, args.max_states, args.step_limit)
        except ValueError as exc:
            parser.error(f"--set {name}: {exc}")
        result["folder"], result["seconds"] = folder, round(time.time() - start, 1)
        report["sets"][name] = result
        s = result["summary"]
        print(f"| {name} | {s['solved']}/{s['levels']} | {s.get('median_pushes')} | {s.get('median_moves')} "
              f"| {s.get('p90_moves')} | {s.get('over_step_limit')} | {s.get('median_explored')} "
              f"| {s.get('p90_explored')} |", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)
    return report


if __name__ == "__main__":
    main()
