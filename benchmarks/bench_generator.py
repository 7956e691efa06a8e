"""Level generation speed and difficulty: our generator vs gym-sokoban 0.0.6's vs Boxoban.

Speed: levels per CPU-second of ``generate_levels`` in one process against gym-sokoban's
``room_utils.generate_room`` (its retries on failure included, like its reset), measured as process
CPU time so that other load on a shared machine affects both alike; plus wall-clock levels/s with
``--workers`` processes (our ``build_pool`` vs gym-sokoban in a process pool).
Difficulty: the BFS push solver (``i2a_keras/envs/solver.py``) on a sample of each source: the
fraction solved within ``--max-states`` and the distribution of optimal push counts.

    python benchmarks/bench_generator.py --dim 10 10 --boxes 4 --n-gym 8 --n-difficulty 150
"""
import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import i2a_keras.envs as E  # noqa: E402
from i2a_keras.envs.boxoban import load_boxoban  # noqa: E402
from i2a_keras.envs.levels import GymSokobanSource  # noqa: E402
from i2a_keras.envs.solver import solve  # noqa: E402


def _gym_levels(args):
    dim, boxes, seed, n = args
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        src = GymSokobanSource(dim, boxes)
        src.seed(seed)
        t0 = time.process_time()
        f, s = src.sample(n)
        return f, s, time.process_time() - t0


def _solve_one(args):
    f, s, max_states = args
    r = solve(f, s, max_states=max_states)
    return r.status, r.pushes


def _difficulty(name, fixed, state, max_states, pool):
    res = pool.map(_solve_one, [(f, s, max_states) for f, s in zip(fixed, state)])
    status = [r[0] for r in res]
    pushes = np.array([r[1] for r in res if r[0] == "solved"])
    n = len(res)
    line = (f"{name:<22} n={n:4d}  solved {status.count('solved') / n:6.1%}  "
            f"limit {status.count('limit') / n:6.1%}  unsolvable {status.count('unsolvable') / n:6.1%}")
    if len(pushes):
        q = np.percentile(pushes, [10, 50, 90])
        line += (f"  pushes mean {pushes.mean():5.2f} p10/p50/p90 {q[0]:.0f}/{q[1]:.0f}/{q[2]:.0f} "
                 f"max {pushes.max()}")
    print(line, flush=True)
    bins = np.bincount(np.minimum(pushes, 30), minlength=31) if len(pushes) else np.zeros(31, int)
    print(f"{'':<22} push histogram 0..30+: {bins.tolist()}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dim", type=int, nargs=2, default=(10, 10))
    p.add_argument("--boxes", type=int, default=4)
    p.add_argument("--n-ours", type=int, default=2000, help="levels timed for our generator")
    p.add_argument("--n-gym", type=int, default=20, help="levels from gym-sokoban (timed + difficulty)")
    p.add_argument("--n-difficulty", type=int, default=100)
    p.add_argument("--max-states", type=int, default=100_000)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--boxoban-dir", default=os.environ.get(
        "I2A_BOXOBAN_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                                        "boxoban-levels")))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gym-levels", default=None,
                   help="optional .npz (room_fixed, room_state) of extra gym-sokoban levels made with "
                        "its room_utils.generate_room, added to the difficulty sample")
    p.add_argument("--save-gym", default=None, help="save this run's gym-sokoban levels to an .npz")
    p.add_argument("--ours-kwargs", default="{}", help="generate_levels keyword overrides (JSON)")
    args = p.parse_args()
    dim = tuple(args.dim)
    print(f"dim={dim} boxes={args.boxes} workers={args.workers}", flush=True)

    kw = json.loads(args.ours_kwargs)
    print(f"our generator settings: {kw or 'defaults'}", flush=True)
    t0 = time.process_time()
    E.generate_levels(args.n_ours, dim, args.boxes, seed=args.seed, **kw)
    ours_1 = args.n_ours / (time.process_time() - t0)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        E.build_pool(os.path.join(d, "pool.npz"), args.n_ours, dim, args.boxes, seed=args.seed,
                     workers=args.workers, progress=False, **kw)
        ours_p = args.n_ours / (time.perf_counter() - t0)

    ctx = mp.get_context("spawn")
    with ctx.Pool(args.workers) as pool:
        per = [args.n_gym // args.workers + (i < args.n_gym % args.workers) for i in range(args.workers)]
        t0 = time.perf_counter()
        out = pool.map(_gym_levels, [(dim, args.boxes, args.seed + 1000 + i, k)
                                     for i, k in enumerate(per) if k])
        wall = time.perf_counter() - t0
        gym_f = np.concatenate([o[0] for o in out])
        gym_s = np.concatenate([o[1] for o in out])
        gym_cpu = sum(o[2] for o in out)
        if args.save_gym:
            np.savez_compressed(args.save_gym, room_fixed=gym_f, room_state=gym_s)
        gym_1 = args.n_gym / gym_cpu
        gym_p = args.n_gym / wall
        print(f"gym-sokoban generator : {gym_1:10.3f} levels/CPU-s ({1 / gym_1:.2f} CPU-s/level); "
              f"{gym_p:.3f} levels/s wall with {args.workers} processes", flush=True)
        print(f"ours, generate_levels : {ours_1:10.1f} levels/CPU-s ({1e3 / ours_1:.2f} CPU-ms/level)  "
              f"{ours_1 / gym_1:8.0f}x gym-sokoban", flush=True)
        print(f"ours, build_pool x{args.workers}   : {ours_p:10.1f} levels/s wall  "
              f"{ours_p / gym_p:8.0f}x gym-sokoban with {args.workers} processes", flush=True)

        ours_f, ours_s = E.generate_levels(args.n_difficulty, dim, args.boxes, seed=args.seed + 1, **kw)
        _difficulty("ours", ours_f, ours_s, args.max_states, pool)
        _difficulty("gym-sokoban (this run)", gym_f, gym_s, args.max_states, pool)
        if args.gym_levels:
            with np.load(args.gym_levels) as z:
                gf, gs = z["room_fixed"], z["room_state"]
            if gf.shape[1:] == dim:
                k = min(len(gf), args.n_difficulty)
                _difficulty("gym-sokoban (--gym-levels)", gf[:k], gs[:k], args.max_states, pool)
        d = os.path.join(args.boxoban_dir, "unfiltered", "train")
        if dim == (10, 10) and args.boxes == 4 and os.path.isdir(d):
            bf, bs = load_boxoban(d)
            idx = np.random.default_rng(args.seed).choice(len(bf), args.n_difficulty, replace=False)
            _difficulty("boxoban unfiltered", bf[idx], bs[idx], args.max_states, pool)
        else:
            print("boxoban unfiltered    : skipped (needs 10x10/4 boxes and the sample data)")


if __name__ == "__main__":
    main()
