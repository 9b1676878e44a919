"""The ``meta`` entry of run.json holds the keys Sacred 0.8.7 writes: a plain ``ex.run()`` has no
``config_updates``, ``ex.run(config_updates={})`` and every command-line run have it.

The same script runs under Sacred 0.8.7 and under experimentkit, each in its own interpreter with its own
FileStorageObserver; run.json is read as plain JSON.
"""

import json
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("sacred")

SCRIPT = textwrap.dedent("""
    import sys
    from FRAMEWORK import Experiment
    from FRAMEWORK.observers import FileStorageObserver

    ex = Experiment("meta")
    ex.observers.append(FileStorageObserver("runs"))

    @ex.config
    def cfg():
        lr = 0.1

    @ex.main
    def main(lr):
        return lr

    if __name__ == "__main__":
        quiet = {"--loglevel": "ERROR"}
        if sys.argv[1] == "plain":
            ex.run(options=quiet)
        elif sys.argv[1] == "empty":
            ex.run(config_updates={}, options=quiet)
        elif sys.argv[1] == "given":
            ex.run(config_updates={"lr": 0.5}, options=quiet)
        else:
            ex.run_commandline([sys.argv[0], "-l", "ERROR"] + sys.argv[2:])
""")


def stored_meta(tmp_path, framework: str, *args: str) -> dict:
    """The meta entry (without experimentkit's own ``uid``) of the run the script stores."""
    where = tmp_path / framework
    where.mkdir(exist_ok=True)
    script = where / "meta_script.py"
    script.write_text(SCRIPT.replace("FRAMEWORK", framework))
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, cwd=where)
    assert done.returncode == 0, done.stderr
    meta = json.loads((where / "runs" / "1" / "run.json").read_text())["meta"]
    meta.pop("uid", None)
    return meta


@pytest.mark.parametrize(
    "args",
    [("plain",), ("empty",), ("given",), ("cli",), ("cli", "with", "lr=0.5")],
    ids=["plain", "empty", "given", "cli", "cli-update"],
)
def test_meta_keys_match_sacred(tmp_path, args):
    ours = stored_meta(tmp_path, "experimentkit", *args)
    theirs = stored_meta(tmp_path, "sacred", *args)
    assert ("config_updates" in ours) == ("config_updates" in theirs)
    assert ours.get("config_updates") == theirs.get("config_updates")
    assert ours["named_configs"] == theirs["named_configs"]
    assert ours["command"] == theirs["command"]
