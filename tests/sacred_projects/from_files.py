"""Config from files, named configs from files, config hooks, pre-run hooks, resources and a custom
command: the patterns of Sacred projects that keep their settings in JSON/YAML."""

from sacred import Experiment

ex = Experiment("from_files")
ex.add_config("base.json")
ex.add_named_config("quick", "quick.yaml")


@ex.config
def config(steps):
    label = f"steps-{steps}"


@ex.config_hook
def add_derived(config, command_name, logger):
    return {"derived": {"double": config["steps"] * 2}}


calls = []


@ex.pre_run_hook
def check(steps):
    calls.append(steps)


@ex.command
def count_lines(data_file):
    with ex.open_resource(data_file) as f:
        return len(f.readlines())


@ex.automain
def main(steps, label, derived, data_file, _run):
    with ex.open_resource(data_file) as f:
        rows = [line.strip() for line in f]
    for i in range(steps):
        _run.log_scalar("progress", (i + 1) / steps)
    print("read", len(rows), "rows")
    return {"label": label, "rows": rows, "double": derived["double"], "hooks": calls}
