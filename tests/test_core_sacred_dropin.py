"""A script written for Sacred 0.8 runs unchanged under experimentkit after swapping the imports.

The same source is run under Sacred 0.8.7 itself and under experimentkit (real subprocesses); what the
script observes (config, results, info, command names, errors) must match.
"""

import json
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import json, sys
    from sacred import Experiment, Ingredient, SETTINGS
    from sacred.observers import RunObserver
    from sacred.utils import apply_backspaces_and_linefeeds, ConfigAddedError, MissingConfigError

    SETTINGS.CAPTURE_MODE = "sys"
    data = Ingredient("data")

    @data.config
    def data_config():
        size = 10        # number of samples
        path = "/tmp/data"

    @data.capture
    def load(size, path):
        return list(range(size)), path

    ex = Experiment("dropin", ingredients=[data])
    ex.captured_out_filter = apply_backspaces_and_linefeeds
    ex.add_config({"batch": 4})

    @ex.config
    def config():
        lr = 0.1
        epochs = 3
        tag = "run-%d" % epochs
        optimizer = {"name": "sgd", "momentum": 0.9}

    @ex.named_config
    def fast():
        epochs = 1

    class Recorder(RunObserver):
        def __init__(self):
            self.events = []
        def started_event(self, ex_info, command, host_info, start_time, config, meta_info, _id):
            self.events.append(("started", command, sorted(config)))
            return _id
        def completed_event(self, stop_time, result):
            self.events.append(("completed", result))

    recorder = Recorder()
    ex.observers.append(recorder)
    hooks = []

    @ex.pre_run_hook
    def before(lr):
        hooks.append(lr)

    @ex.capture(prefix="optimizer")
    def make_optimizer(name, momentum):
        return name + ":" + str(momentum)

    @ex.command
    def describe(data, _config):
        return {"data": dict(data), "keys": sorted(_config)}

    @ex.main
    def main(lr, epochs, tag, batch, _run, _log, _config):
        _log.info("training")
        _run.info["note"] = "hello"
        for step in range(epochs):
            _run.log_scalar("loss", 1.0 / (step + 1))
        print("progress 1\\rprogress 2")
        items, path = load()
        return {"lr": lr, "epochs": epochs, "tag": tag, "batch": batch, "n": len(items), "path": path,
                "opt": make_optimizer(), "hooks": list(hooks)}

    out = {}
    run = ex.run(config_updates={"lr": 0.5, "data.size": 3, "seed": 7}, named_configs=["fast"])
    config = {k: v for k, v in run.config.items() if k != "__doc__"}
    out["main"] = {"result": run.result, "status": run.status, "config": config, "info": run.info,
                   "events": recorder.events, "out": run.captured_out.splitlines()[-1:]}
    out["describe"] = ex.run("describe", config_updates={"seed": 7}).result
    out["commands"] = sorted(name for name, _ in ex.gather_commands())
    out["named"] = sorted(name for name, _ in ex.gather_named_configs())
    for updates in ({"lrr": 1}, ):
        try:
            ex.run(config_updates=updates)
        except ConfigAddedError:
            out["typo"] = "ConfigAddedError"
    @ex.command
    def needs(missing_value):
        return missing_value
    try:
        ex.run("needs")
    except MissingConfigError as err:
        out["missing"] = str(err).splitlines()[0]
    print("RESULT " + json.dumps(out, sort_keys=True, default=str))
""")


def run_script(tmp_path, framework):
    source = SCRIPT.replace("sacred", framework)
    path = tmp_path / f"dropin_{framework}.py"
    path.write_text(source)
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT ") :])


def test_sacred_script_runs_unchanged(tmp_path):
    pytest.importorskip("sacred")
    ours = run_script(tmp_path, "experimentkit")
    theirs = run_script(tmp_path, "sacred")
    assert ours == theirs
    assert ours["main"]["result"]["epochs"] == 1 and ours["main"]["result"]["lr"] == 0.5
    assert ours["main"]["out"] == ["progress 2"]
