"""Level sources: generator validity/solvability, Boxoban loader and its errors, pool cache, splits."""
import os

import numpy as np
import pytest

import i2a_keras.envs as E
from i2a_keras.envs.boxoban import BoxobanFormatError, level_to_text, load_boxoban, parse_boxoban_text
from i2a_keras.envs.core import validate_levels
from i2a_keras.envs.levels import GymSokobanSource, split_mask
from i2a_keras.envs.solver import solve


def _boxoban_dir():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    d = os.environ.get("I2A_BOXOBAN_DIR", os.path.join(here, "..", "shared", "data", "boxoban-levels"))
    return d if os.path.isdir(d) else None


@pytest.mark.parametrize("dim,num_boxes", [((7, 7), 1), ((7, 7), 2), ((10, 10), 4), ((6, 8), 3)])
def test_generator_valid_and_solvable(dim, num_boxes):
    f, s = E.generate_levels(12, dim, num_boxes, seed=0)
    assert f.shape == s.shape == (12, *dim) and f.dtype == np.uint8
    validate_levels(f, s)
    assert ((s == E.BOX).sum(axis=(1, 2)) == num_boxes).all()       # no box starts on a target
    assert ((f == E.TARGET).sum(axis=(1, 2)) == num_boxes).all()
    assert ((s == E.PLAYER) & (f == E.TARGET)).sum() == 0             # player not on a target
    for i in range(len(f) if num_boxes <= 2 else 3):
        res = solve(f[i], s[i])
        assert res.solved and res.pushes >= 1


def test_generator_seeded_and_errors():
    a = E.generate_levels(5, (7, 7), 2, seed=1)
    b = E.generate_levels(5, (7, 7), 2, seed=1)
    c = E.generate_levels(5, (7, 7), 2, seed=2)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    with pytest.raises(ValueError, match="too many boxes"):
        E.generate_levels(1, (5, 5), 8)
    with pytest.raises(ValueError, match="at least"):
        E.generate_levels(1, (3, 10), 1)
    with pytest.raises(ValueError, match="num_boxes"):
        E.generate_levels(1, (7, 7), 0)


BAD = {
    "size": ("; 0\n#####\n#@$.#\n#####\n", "size 3x5"),
    "player": ("; 0\n#####\n# $.#\n#   #\n#####\n", "exactly one player"),
    "boxes": ("; 3\n#####\n#@$$#\n#.  #\n#####\n", "#boxes (2) != #targets (1)"),
    "char": ("; 7\n#####\n#@$.#\n# x #\n#####\n", "unknown character 'x'"),
    "border": ("; 0\n#####\n#@$. \n#   #\n#####\n", "border"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_boxoban_errors_name_file_and_level(case, tmp_path):
    text, msg = BAD[case]
    path = tmp_path / "bad.txt"
    good = "; 0\n#####\n#@$.#\n#   #\n#####\n\n"
    text = text.replace("; 0", "; 1", 1)
    path.write_text(good + text)
    number = text.split("\n")[0][1:].strip()
    with pytest.raises(BoxobanFormatError) as e:
        load_boxoban(str(path), dim_room=(4, 5))
    assert "bad.txt" in str(e.value) and f"level {number} " in str(e.value) and msg in str(e.value)


def test_boxoban_parse_roundtrip_and_env(tmp_path):
    text = "; 0\n######\n#@$. #\n# *  #\n######\n\n; 1\n######\n#+$  #\n#  $.#\n######\n"
    f, s, ids = parse_boxoban_text(text, dim_room=(4, 6))
    assert ids == [0, 1] and f.shape == (2, 4, 6)
    assert s[1][1, 1] == E.PLAYER and f[1][1, 1] == E.TARGET
    assert level_to_text(f[0], s[0]) == "######\n#@$. #\n# *  #\n######"
    (tmp_path / "a.txt").write_text(text)
    env = E.make(dim_room=(4, 6), num_boxes=2, levels=f"boxoban:{tmp_path}")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 6, 7)
    with pytest.raises(FileNotFoundError):
        load_boxoban(str(tmp_path / "missing"))


def test_boxoban_sample_data():
    d = _boxoban_dir()
    if d is None:
        pytest.skip("Boxoban sample data not present (set I2A_BOXOBAN_DIR)")
    f, s = load_boxoban(os.path.join(d, "unfiltered", "train"), max_levels=2000)
    assert f.shape == (2000, 10, 10)
    validate_levels(f, s)
    assert ((s == E.BOX) | (s == E.BOX_ON_TARGET)).sum(axis=(1, 2)).tolist() == [4] * 2000
    v = E.make_vec(4, levels="boxoban:" + os.path.join(d, "unfiltered", "train", "000.txt"), seed=0)
    obs, _ = v.reset()
    assert obs.shape == (4, 10, 10, 7)


def test_pool_roundtrip(tmp_path):
    path = str(tmp_path / "pool.npz")
    f, s = E.build_pool(path, 40, (7, 7), 2, seed=0, workers=1, chunk=16, progress=False)
    f2, s2, meta = E.load_pool(path)
    np.testing.assert_array_equal(f, f2)
    np.testing.assert_array_equal(s, s2)
    assert "num_boxes" in meta and f"('generator_version', {E.generator.GENERATOR_VERSION})" in meta
    src = E.make_level_source(path)
    src.seed(0)
    pf, ps = src.sample(8)
    pool = {(a.tobytes(), b.tobytes()) for a, b in zip(f, s)}
    assert all((a.tobytes(), b.tobytes()) in pool for a, b in zip(pf, ps))
    env = E.make(preset="small", levels="pool:" + path)
    env.reset(seed=0)
    # same levels with 2 workers (reproducible regardless of worker count)
    f3, _ = E.build_pool(str(tmp_path / "p2.npz"), 40, (7, 7), 2, seed=0, workers=2, chunk=16,
                         progress=False)
    np.testing.assert_array_equal(f, f3)


def test_train_eval_split_disjoint():
    tr = E.GeneratorSource((7, 7), 1, split="train", holdout_fraction=0.2, chunk=64)
    ev = E.GeneratorSource((7, 7), 1, split="eval", holdout_fraction=0.2, chunk=64)
    tr.seed(0)
    ev.seed(0)
    a = tr.sample(150)
    b = ev.sample(150)
    train = {x.tobytes() + y.tobytes() for x, y in zip(*a)}
    held = {x.tobytes() + y.tobytes() for x, y in zip(*b)}
    assert train.isdisjoint(held)
    assert split_mask(*b, "eval", 0.2).all() and not split_mask(*b, "train", 0.2).any()


def test_gym_sokoban_adapter_source():
    src = GymSokobanSource((6, 6), 1)
    src.seed(0)
    f, s = src.sample(2)
    validate_levels(f, s)
    src.seed(0)
    np.testing.assert_array_equal(src.sample(2)[1], s)


def test_solver_statuses():
    f, s, _ = parse_boxoban_text("; 0\n#####\n#@$.#\n#####\n", dim_room=None)
    r = solve(f[0], s[0])
    assert r.solved and r.pushes == 1 and r.actions == [4]
    f, s, _ = parse_boxoban_text("; 0\n#####\n#@ $#\n#.  #\n#####\n", dim_room=None)
    assert solve(f[0], s[0]).status == "unsolvable"  # box in a corner


def test_generator_source_prefetch_same_levels():
    a = E.GeneratorSource((7, 7), 2, chunk=16, prefetch=True, buffer_chunks=2)
    b = E.GeneratorSource((7, 7), 2, chunk=16, prefetch=False)
    for src in (a, b):
        src.seed(5)
    for n in (1, 7, 30, 3, 40):
        fa, sa = a.sample(n)
        fb, sb = b.sample(n)
        assert fa.shape == (n, 7, 7)
        np.testing.assert_array_equal(fa, fb)
        np.testing.assert_array_equal(sa, sb)
    a.seed(5)  # reseeding restarts the stream
    b.seed(5)
    np.testing.assert_array_equal(a.sample(4)[1], b.sample(4)[1])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_generator_source_fork_safe():
    """A forked child (e.g. a multiprocessing worker) can keep sampling from a prefetching source."""
    import signal
    import time

    src = E.GeneratorSource((7, 7), 2, chunk=16, buffer_chunks=8)
    src.seed(0)
    src.sample(2)
    for _ in range(3):
        pid = os.fork()
        if pid == 0:  # child
            code = 0
            try:
                f, _ = src.sample(40)
                code = 0 if f.shape == (40, 7, 7) else 1
            except BaseException:
                code = 2
            os._exit(code)
        deadline = time.time() + 30
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.time() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail("forked child deadlocked while sampling levels")
            time.sleep(0.01)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert src.sample(5)[0].shape == (5, 7, 7)
    src.close()


def _write_levels(path, levels):
    path.write_text("".join(f"; {i}\n{text}\n\n" for i, text in enumerate(levels)))


_LEVEL_A = "#####\n#@$.#\n#####"
_LEVEL_B = "######\n#@ $.#\n######"


def test_boxoban_cache_hits_and_follows_file_changes(tmp_path, monkeypatch):
    """Parsed Boxoban levels are cached; editing a file invalidates its cache entry."""
    monkeypatch.setenv("I2A_KERAS_CACHE", str(tmp_path / "cache"))
    level_file = tmp_path / "levels.txt"
    _write_levels(level_file, [_LEVEL_A] * 3)
    f1, s1 = load_boxoban(str(level_file), dim_room=None)
    cached = list((tmp_path / "cache").glob("boxoban-*.npz"))
    assert len(cached) == 1
    f2, s2 = load_boxoban(str(level_file), dim_room=None)
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_array_equal(s1, s2)
    _write_levels(level_file, [_LEVEL_B] * 2)  # other size and count: must not come from the cache
    f3, _ = load_boxoban(str(level_file), dim_room=None)
    assert f3.shape == (2, 3, 6)


def test_binary_boxoban_file_is_named(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ValueError, match="bad.txt"):
        load_boxoban(str(bad), cache=False)


def test_explicit_eval_levels_use_each_source_whole(tmp_path):
    """With ``env.eval_levels``, training sees every level of ``levels`` and evaluation only
    levels of ``eval_levels`` (no hash split of either)."""
    from i2a_keras.training.actor_critic import env_kwargs
    from i2a_keras.training.config import EnvConfig

    train_f, train_s = E.generate_levels(30, (7, 7), 1, seed=1)
    eval_f, eval_s = E.generate_levels(20, (7, 7), 1, seed=2)
    E.save_pool(str(tmp_path / "train.npz"), train_f, train_s)
    E.save_pool(str(tmp_path / "eval.npz"), eval_f, eval_s)
    cfg = EnvConfig(dim_room=(7, 7), num_boxes=1, levels=f"pool:{tmp_path / 'train.npz'}",
                    eval_levels=f"pool:{tmp_path / 'eval.npz'}")
    for split, (f, s) in (("train", (train_f, train_s)), ("eval", (eval_f, eval_s))):
        kwargs = env_kwargs(cfg, split)
        assert kwargs["split"] == "all"
        src = E.make_level_source(kwargs["levels"], (7, 7), 1, kwargs["split"])
        assert src.num_levels == len(f)
        src.seed(0)
        got = src.sample(200)
        expected = {a.tobytes() + b.tobytes() for a, b in zip(f, s)}
        seen = {a.tobytes() + b.tobytes() for a, b in zip(*got)}
        assert seen <= expected and len(seen) == len(f)
    with pytest.raises(ValueError, match="env.eval_levels"):
        EnvConfig(eval_levels=str(tmp_path / "missing.npz"))


def test_boxoban_preset_uses_unfiltered_train_and_valid():
    from i2a_keras.training.config import model_free_preset

    cfg = model_free_preset("boxoban")
    assert (cfg.env.dim_room, cfg.env.num_boxes, cfg.env.max_steps, cfg.env.action_set) == \
        ((10, 10), 4, 120, "moves")
    if _boxoban_dir() is None:
        assert cfg.env.levels == "generator" and cfg.env.eval_levels == ""
    else:
        assert cfg.env.levels.endswith(os.path.join("unfiltered", "train"))
        assert cfg.env.eval_levels.endswith(os.path.join("unfiltered", "valid"))


class _StartRooms:
    """Wraps a vector env and records the rooms every episode starts from (reset, autoreset)."""

    def __init__(self, venv, rooms):
        self.venv, self.rooms = venv, rooms

    def __getattr__(self, name):
        return getattr(self.venv, name)

    def reset(self, **kwargs):
        obs, info = self.venv.reset(**kwargs)
        self.rooms.extend(np.argmax(obs, -1).astype(np.uint8))
        return obs, info

    def step(self, actions):
        obs, reward, terminated, truncated, info = self.venv.step(actions)
        self.rooms.extend(np.argmax(obs[terminated | truncated], -1).astype(np.uint8))
        return obs, reward, terminated, truncated, info


@pytest.mark.parametrize("explicit", [True, False])
def test_evaluation_plays_only_held_out_levels(tmp_path, monkeypatch, explicit):
    """``evaluate_agent`` and the episode GIFs start every episode from a held-out level: a level
    of ``env.eval_levels`` when it is set, else one of the hash split's ``eval`` side."""
    from i2a_keras.envs.core import rooms_to_state, state_to_rooms
    from i2a_keras.models import build_agent
    from i2a_keras.training import actor_critic
    from i2a_keras.training.config import EnvConfig
    from i2a_keras.training.evaluate import episode_frames, evaluate_agent

    train_f, train_s = E.generate_levels(40, (7, 7), 1, seed=1)
    E.save_pool(str(tmp_path / "train.npz"), train_f, train_s)
    extra = {}
    if explicit:
        eval_f, eval_s = E.generate_levels(10, (7, 7), 1, seed=2)
        E.save_pool(str(tmp_path / "eval.npz"), eval_f, eval_s)
        extra["eval_levels"] = f"pool:{tmp_path / 'eval.npz'}"
    cfg = EnvConfig(dim_room=(7, 7), num_boxes=1, max_steps=6, levels=f"pool:{tmp_path / 'train.npz'}",
                    holdout_fraction=0.5, **extra)
    rooms, make_env = [], actor_critic.make_env
    monkeypatch.setattr(actor_critic, "make_env", lambda *a, **k: _StartRooms(make_env(*a, **k), rooms))
    agent = build_agent("model-free", (7, 7, 7), 5)
    evaluate_agent(agent, cfg, num_levels=8, num_envs=4)
    episode_frames(agent, cfg, episodes=2)
    assert len(rooms) >= 8 + 2
    fixed, state = rooms_to_state(np.stack(rooms))
    if explicit:
        held_out = {state_to_rooms(s, f).tobytes() for f, s in zip(eval_f, eval_s)}
        assert all(r.tobytes() in held_out for r in rooms)
    else:
        assert split_mask(fixed, state, "eval", 0.5).all()
        assert not split_mask(train_f, train_s, "eval", 0.5).all()  # the pool holds both sides


def test_dealt_levels_follow_each_slot_whatever_the_finishing_order():
    f, s = E.generate_levels(7, (6, 6), 1, seed=3)
    dealt = E.DealtLevels(f, s, num_slots=3)
    level_of = {E.state_to_rooms(s[i], f[i]).tobytes(): i for i in range(7)}

    def levels(slots):
        got_f, got_s = dealt.sample_slots(np.array(slots))
        return [level_of[E.state_to_rooms(b, a).tobytes()] for a, b in zip(got_f, got_s)]

    assert levels([0, 1, 2]) == [0, 1, 2]
    assert levels([2]) == [5]             # slot 2 finished first: its own next level, not level 3
    assert levels([0, 2]) == [3, 1]       # slot 2's third level wraps around the 7 (8 % 7)
    assert levels([1]) == [4]
    dealt.seed(123)                       # a reset deals from the start again
    assert levels([1, 2]) == [1, 2]
    with pytest.raises(ValueError, match="distinct"):
        dealt.sample_slots(np.array([0, 0]))
    with pytest.raises(ValueError, match="sample_slots"):
        dealt.sample(1)


def test_array_source_draws_distinct_levels_and_a_longer_draw_extends_a_shorter():
    f, s = E.generate_levels(30, (6, 6), 1, seed=4)
    src = E.ArraySource(f, s)
    src.seed(9)
    ten = src.draw(10)
    src.seed(9)
    thirty = src.draw(30)
    np.testing.assert_array_equal(ten[1], thirty[1][:10])
    assert len({x.tobytes() for x in E.state_to_rooms(thirty[1], thirty[0])}) == 30


def test_make_vec_fixed_levels_deals_one_list_whatever_the_number_of_envs():
    cfg = dict(dim_room=(6, 6), num_boxes=1)
    four = E.make_vec(4, cfg, seed=5, fixed_levels=4)
    eight = E.make_vec(8, cfg, seed=5, fixed_levels=8)
    one = E.make_vec(1, cfg, seed=5, fixed_levels=4)
    four.reset()
    eight.reset()
    np.testing.assert_array_equal(four.rooms(), eight.rooms()[:4])
    np.testing.assert_array_equal(one.level_source.room_state, four.level_source.room_state)
    other = E.make_vec(4, cfg, seed=6, fixed_levels=4)
    assert not np.array_equal(other.level_source.room_state, four.level_source.room_state)
    with pytest.raises(ValueError, match="needs a seed"):
        E.make_vec(4, cfg, fixed_levels=4)
    with pytest.raises(ValueError, match="not both"):
        E.make_vec(4, cfg, seed=5, fixed_levels=4,
                   level_source=E.DealtLevels(four.level_source.room_fixed, four.level_source.room_state, 4))
    for env in (four, eight, one, other):
        env.close()


def test_evaluation_plays_the_same_levels_whatever_the_step_limit_and_number_of_envs():
    """Greedy, a deterministic policy's per-level outcomes do not depend on eval.num_envs, and a
    longer step limit solves every level a shorter one solves (the same levels are played)."""
    import keras

    from i2a_keras.training.actor_critic import env_spec
    from i2a_keras.training.config import EnvConfig
    from i2a_keras.training.evaluate import evaluate_agent

    env = EnvConfig(dim_room=(6, 6), num_boxes=1, max_steps=15)
    shape, n_actions = env_spec(env)
    weights = np.random.default_rng(0).normal(size=shape).astype("float32")

    class ObsHashPolicy:  # a fixed function of the observation: it solves some levels, loops on others
        def __call__(self, obs, training=False):
            x = keras.ops.sum(keras.ops.cast(obs, "float32") * weights, axis=(1, 2, 3))
            action = keras.ops.cast(keras.ops.mod(keras.ops.floor(3.0 * x), float(n_actions)), "int32")
            return {"logits": 10.0 * keras.ops.one_hot(action, n_actions), "value": 0.0 * x}

    def outcomes(max_steps, num_envs):
        import dataclasses

        result = evaluate_agent(ObsHashPolicy(), dataclasses.replace(env, max_steps=max_steps), 60,
                                num_envs, greedy=True, per_level=True)
        by_level = np.array([c == "1" for c in result["solved_by_level"]])
        assert len(by_level) == 60 and by_level.mean() == pytest.approx(result["solve_rate"])
        return by_level

    short = outcomes(15, 4)
    np.testing.assert_array_equal(outcomes(15, 7), short)
    np.testing.assert_array_equal(outcomes(15, 1), short)  # a single env generates in small chunks
    longer = outcomes(40, 7)
    assert 0 < short.sum() < 60, short.sum()
    assert (longer | ~short).all()        # solved within 15 steps => solved within 40
