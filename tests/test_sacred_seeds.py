"""Seeds match Sacred 0.8.7: the same script, run once under Sacred and once under experimentkit (each in
its own interpreter, so neither side sees the other's code), draws the same ``_seed``/``_rnd`` values.
"""

import json
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("sacred")

SCRIPT = textwrap.dedent("""
    import json, sys
    if sys.argv[2] == "no-numpy":
        sys.modules["numpy"] = None  # both frameworks then fall back to random.Random
    from FRAMEWORK import Experiment, Ingredient

    data = Ingredient("data")
    sub = Ingredient("data.sub")           # below "data": seeded from data's generator
    other = Ingredient("other", ingredients=[sub])

    @sub.config
    def sub_cfg():
        k = 1

    @sub.capture
    def sub_draw(_seed, _rnd):
        draw = _rnd.integers(0, 10**6) if hasattr(_rnd, "integers") else _rnd.randint(0, 10**6)
        return [_seed, int(draw)]

    @data.config
    def data_cfg():
        n = 2

    @data.capture
    def data_draw(n, _seed):
        return _seed

    data.ingredients.append(sub)
    seeded = Ingredient("seeded")

    @seeded.config
    def seeded_cfg():
        seed = 7                          # an ingredient with a seed of its own

    @seeded.capture
    def seeded_draw(_seed):
        return _seed

    ex = Experiment("seeds", ingredients=[data, other, seeded])

    @ex.config
    def cfg():
        a = 1

    @ex.capture
    def f(_seed):
        return _seed

    @ex.capture
    def g(_rnd):
        return float(_rnd.random())

    out = []

    @ex.pre_run_hook
    def hook(_seed):
        out.append(["hook", _seed])

    @ex.main
    def main(_seed, _rnd):
        out.append(["main", _seed, float(_rnd.random())])
        out.append(["f", f(), f(), f()])
        out.append(["g", g()])
        out.append(["data", data_draw(), data_draw()])
        out.append(["sub", sub_draw(), sub_draw()])
        out.append(["seeded", seeded_draw()])
        return out

    @ex.command
    def other_command(_seed):
        return [["other_command", _seed, f()]]

    command = sys.argv[3]
    run = ex.run(command, config_updates={"seed": int(sys.argv[1])}, options={"--loglevel": "ERROR"})
    print(json.dumps({"seed": run.config["seed"], "draws": run.result}))
""")


def draws(tmp_path, framework: str, seed: int, numpy: str, command: str) -> dict:
    script = tmp_path / f"seeds_{framework}.py"
    script.write_text(SCRIPT.replace("FRAMEWORK", framework))
    done = subprocess.run(
        [sys.executable, str(script), str(seed), numpy, command], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("numpy", ["numpy", "no-numpy"])
@pytest.mark.parametrize("seed", [42, 123456789])
def test_same_root_seed_draws_what_sacred_draws(tmp_path, seed, numpy):
    pytest.importorskip("numpy") if numpy == "numpy" else None
    theirs = draws(tmp_path, "sacred", seed, numpy, "main")
    ours = draws(tmp_path, "experimentkit", seed, numpy, "main")
    assert ours == theirs
    assert theirs["seed"] == seed
    assert len({row[1] if not isinstance(row[1], list) else row[1][0] for row in theirs["draws"]}) > 4


def test_other_commands_draw_what_sacred_draws(tmp_path):
    theirs = draws(tmp_path, "sacred", 5, "numpy", "other_command")
    ours = draws(tmp_path, "experimentkit", 5, "numpy", "other_command")
    assert ours == theirs
