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

``--paired RESULTS.json`` (repeatable) solves instead exactly the levels of a result file of
``benchmarks/paired_evaluation.py``, in its order (``evaluation_levels``), and prints each of its
agents' solve rate on the levels grouped by their minimum number of pushes: which levels the
agents fail. Files of the same list of levels (e.g. the sampled and the greedy file) share one
solve, and ``--reuse REPORT.json`` takes the solved lists of an earlier report (when a file gains
an agent):

    python benchmarks/level_difficulty.py --paired results/paired_boxoban_valid_sampled.json \\
        --paired results/paired_boxoban_valid_greedy.json --out results/boxoban_valid_pushes.json
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


# Groups of levels by their minimum number of pushes (about quintiles of unfiltered valid levels).
PUSH_BINS = ((1, 8), (9, 11), (12, 14), (15, 17), (18, None))


def describe(fixed, state, levels: int, seed: int, max_states: int, step_limit: int) -> dict:
    """Solve a seeded sample of ``levels`` of the levels ``(fixed, state)``; summary and rows."""
    if not 0 < levels <= len(fixed):
        raise ValueError(f"--levels must be in 1..{len(fixed)} for this set, got {levels}")
    index = np.random.default_rng(seed).choice(len(fixed), levels, replace=False)
    return solve_levels(fixed, state, index, max_states, step_limit)


def solve_levels(fixed, state, index, max_states: int, step_limit: int) -> dict:
    """Solve the levels ``index`` of ``(fixed, state)``; summary and one row per level, in order."""
    from i2a_keras.envs.solver import solve

    levels = len(index)
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


def push_bin(pushes) -> str:
    """The :data:`PUSH_BINS` label of a level's minimum pushes (``"unsolved"`` for None)."""
    if pushes is None:
        return "unsolved"
    for low, high in PUSH_BINS:
        if pushes >= low and (high is None or pushes <= high):
            return f"{low}+" if high is None else f"{low}-{high}"
    raise ValueError(f"pushes must be >= 1, got {pushes}")


def rates_by_pushes(rows, outcomes: dict) -> dict:
    """``{agent: {bin: solve rate}}`` and the levels per bin: each agent's ``solved_by_level``
    string (``outcomes``) over the solver's ``rows`` for the same levels, in the same order."""
    bins = [push_bin(r["pushes"]) for r in rows]
    labels = [push_bin(low) for low, _ in PUSH_BINS] + ["unsolved"]
    counts = {b: bins.count(b) for b in labels if b in bins}
    rates = {}
    for name, solved in outcomes.items():
        if len(solved) != len(rows):
            raise ValueError(f"agent {name} played {len(solved)} levels, the file lists {len(rows)}")
        rates[name] = {b: sum(s == "1" for s, x in zip(solved, bins) if x == b) / n for b, n in counts.items()}
        rates[name]["all"] = solved.count("1") / len(solved)
    return {"levels_per_bin": counts, "solve_rate": rates}


def paired_file(path: str):
    """``(key, env, levels, seed, outcomes)`` of a paired-evaluation result file: ``key`` names its
    list of levels (:func:`evaluation_levels` of ``env``, ``levels`` and ``seed``), ``outcomes``
    are its agents' ``solved_by_level`` strings."""
    from i2a_keras.training.config import EnvConfig

    with open(path) as fh:
        data = json.load(fh)
    try:
        env_fields, levels, seed, agents = data["env"], data["levels"], data["seed"], data["agents"]
        outcomes = {name: a["solved_by_level"] for name, a in agents.items()}
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a result file of benchmarks/paired_evaluation.py "
                         f"(no {exc})") from exc
    env = EnvConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in env_fields.items()})
    return json.dumps([env_fields, levels, seed], sort_keys=True), env, levels, seed, outcomes


def pushes_table(name: str, grouped: dict) -> str:
    counts = grouped["levels_per_bin"]
    lines = [f"| {name} | " + " | ".join(f"{b} pushes ({n})" if b != "unsolved" else f"unsolved ({n})"
                                         for b, n in counts.items()) + f" | all ({sum(counts.values())}) |",
             "|---|" + "---|" * (len(counts) + 1)]
    for agent, rates in grouped["solve_rate"].items():
        lines.append(f"| {agent} | " + " | ".join(f"{100 * rates[b]:.1f}%" for b in counts)
                     + f" | {100 * rates['all']:.1f}% |")
    return "\n".join(lines)


def run_paired(paths, max_states: int, step_limit: int, reuse=None) -> dict:
    """Solve the levels of each paired result file (once per distinct list, or not at all where
    ``reuse``, an earlier report of this mode, solved the same list) and group the agents'
    outcomes by the levels' minimum pushes."""
    solved_lists, report = {}, {}
    for entry in (reuse or {}).get("paired", {}).values():
        if (reuse["max_states"], reuse["step_limit"]) == (max_states, step_limit):
            solved_lists[entry["levels_key"]] = {k: entry[k] for k in ("summary", "seconds", "rows")}
    for path in paths:
        key, env, levels, seed, outcomes = paired_file(path)
        if key not in solved_lists:  # draw and solve each list of levels once
            from i2a_keras.training.evaluate import evaluation_levels

            start = time.time()
            fixed, state = evaluation_levels(env, levels, seed)
            solved_lists[key] = solve_levels(fixed, state, range(len(fixed)), max_states, step_limit)
            solved_lists[key]["seconds"] = round(time.time() - start, 1)
        solved = solved_lists[key]
        grouped = rates_by_pushes(solved["rows"], outcomes)
        report[path] = {"levels_key": key, "summary": solved["summary"], "seconds": solved["seconds"],
                        **grouped, "rows": solved["rows"]}
        print(pushes_table(os.path.basename(path), grouped) + "\n", flush=True)
    return report


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", action="append", default=[], metavar="NAME=FOLDER",
                        help="a Boxoban level folder (repeatable)")
    parser.add_argument("--paired", action="append", default=[], metavar="RESULTS.json",
                        help="a result file of benchmarks/paired_evaluation.py: its levels and agents "
                             "(repeatable)")
    parser.add_argument("--reuse", default=None, metavar="REPORT.json",
                        help="with --paired: an earlier --out of --paired, whose solved lists of levels "
                             "are not solved again")
    parser.add_argument("--levels", type=int, default=100, help="levels drawn per set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-states", type=int, default=300_000,
                        help="the solver's expansion budget per level ('limit' past it)")
    parser.add_argument("--step-limit", type=int, default=120,
                        help="count the solutions longer than this many moves (the episode limit)")
    parser.add_argument("--out", default=None, help="JSON file for the summaries and every level")
    args = parser.parse_args(argv)
    if bool(args.set) == bool(args.paired):
        parser.error("give either --set (level folders) or --paired (result files)")
    report = {"max_states": args.max_states, "step_limit": args.step_limit}
    if args.paired:
        try:
            reuse = None
            if args.reuse:
                with open(args.reuse) as fh:
                    reuse = json.load(fh)
            report["paired"] = run_paired(args.paired, args.max_states, args.step_limit, reuse)
        except (OSError, ValueError, KeyError) as exc:
            parser.error(str(exc))
        return write_report(report, args.out)
    from i2a_keras.envs.boxoban import load_boxoban

    sets = {}
    for item in args.set:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            parser.error(f"--set takes NAME=FOLDER, got {item!r}")
        sets[name] = folder
    report.update(levels=args.levels, seed=args.seed, sets={})
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
    return write_report(report, args.out)


def write_report(report: dict, out) -> dict:
    if out:
        with open(out, "w") as f:
            json.dump(report, f, indent=1)
    return report


if __name__ == "__main__":
    main()
