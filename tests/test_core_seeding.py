"""Seeds: recorded root seed, per-function streams, and the global generators."""

import json
import random
import subprocess
import sys
import textwrap

from experimentkit import Experiment


def seeded_experiment():
    ex = Experiment("seeds")

    @ex.capture
    def draw_a(_seed, _rnd):
        return _seed, _rnd.random()

    @ex.capture
    def draw_b(_seed):
        return _seed

    @ex.main
    def main(_seed):
        return {"main": _seed, "a1": draw_a(), "a2": draw_a(), "b": draw_b(), "random": random.random()}

    return ex


def test_seed_is_generated_and_recorded():
    run = seeded_experiment().run()
    assert isinstance(run.config["seed"], int) and 1 <= run.config["seed"] <= 10**9


def test_same_seed_draws_identically_and_functions_differ():
    ex = seeded_experiment()
    first = ex.run(config_updates={"seed": 42}).result
    second = ex.run(config_updates={"seed": 42}).result
    other = ex.run(config_updates={"seed": 43}).result
    assert first == second
    assert first != other
    assert first["a1"] != first["a2"]  # a new seed on every call
    assert len({first["main"], first["a1"][0], first["b"]}) == 3  # different functions, different streams


def test_explicit_seed_argument_wins():
    ex = seeded_experiment()

    @ex.capture
    def echo(_seed):
        return _seed

    @ex.command
    def cmd():
        return echo(_seed=7)

    assert ex.run("cmd").result == 7


SCRIPT = textwrap.dedent("""
    import json, sys
    from experimentkit import Experiment
    ex = Experiment("numpy_seed")

    @ex.main
    def main(use_numpy=False):
        if not use_numpy:
            return None
        import numpy as np
        return float(np.random.rand())

    out = {}
    run = ex.run(config_updates={"seed": 5, "use_numpy": False})
    out["numpy_loaded_without_use"] = "numpy" in sys.modules
    out["first"] = ex.run(config_updates={"seed": 5, "use_numpy": True}).result
    out["second"] = ex.run(config_updates={"seed": 5, "use_numpy": True}).result
    print(json.dumps(out))
""")


def test_numpy_is_seeded_only_when_used(tmp_path):
    script = tmp_path / "numpy_seed.py"
    script.write_text(SCRIPT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["numpy_loaded_without_use"] is False
    assert out["first"] == out["second"]
