"""Unit tests of the command-line pieces: options, value converters, usage text, diagnosis,
printing, plugins (with fake entry points)."""

from __future__ import annotations

import types

import pytest
from hypothesis import given
from hypothesis import strategies as st

from experimentkit.commandline import options as opts
from experimentkit.commandline import plugins
from experimentkit.commandline.parser import diagnose, format_usage, printable_usage
from experimentkit.commandline.printing import (
    format_config,
    format_dependencies,
    format_named_configs,
    use_color,
)
from experimentkit.errors import ObserverError, UsageError

# ---- CLIOption and cli_option -------------------------------------------------------------------


def test_cli_option_builds_an_option_with_sacreds_accessors():
    @opts.cli_option("-w", "--warn-me", is_flag=True)
    def warn_option(args, run):
        """Warn loudly."""
        run.warned = args

    assert isinstance(warn_option, opts.CLIOption)
    assert warn_option.get_flags() == ("-w", "--warn-me")
    assert warn_option.get_flag() == "--warn-me" and warn_option.arg is None
    assert warn_option.get_description() == "Warn loudly."
    run = types.SimpleNamespace()
    warn_option.apply(True, run)
    assert run.warned is True


@pytest.mark.parametrize(
    "short,long",
    [("-ww", "--ok"), ("w", "--ok"), ("-w", "-ok"), ("-w", "--ok-"), ("-w", "--"), ("-", "--ok")],
)
def test_malformed_flags_are_rejected(short, long):
    with pytest.raises(ValueError, match="flag malformed"):
        opts.cli_option(short, long)(lambda args, run: None)


def test_default_options_are_sacreds_set_sorted_by_name():
    flags = [o.get_flags() for o in opts.default_options()]
    assert [f[0] for f in flags] == [
        "-b",
        "-C",
        "-c",
        "-d",
        "-e",
        "-F",
        "-f",
        "-G",
        "-h",
        "-i",
        "-l",
        "-m",
        "-n",
        "-D",
        "-p",
        "-P",
        "-q",
        "-S",
        "-s",
        "-O",
        "-U",
        "-t",
        "-u",
    ]
    # Sacred's set (with -S --s3, -t --tiny_db, -G --gcs), plus experimentkit's -O
    # --strict-observers and -U --system-metrics
    assert ("-F", "--file_storage") in flags and ("-p", "--print-config") in flags


# ---- value converters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,expected",
    [
        ("mydb", {"db_name": "mydb"}),
        ("localhost:27017", {"url": "localhost:27017"}),
        ("db.example.org:1234:exp", {"url": "db.example.org:1234", "db_name": "exp"}),
        ("exp.runs", {"db_name": "exp", "collection": "runs"}),
        ("exp.runs:17!2", {"db_name": "exp", "collection": "runs", "overwrite": "17", "priority": 2}),
        ("exp.runs:17", {"url": "exp.runs:17"}),  # host:port wins, as in Sacred
        ("h:1:exp.runs!-3", {"url": "h:1", "db_name": "exp", "collection": "runs", "priority": -3}),
        ("exp!40", {"db_name": "exp", "priority": 40}),
        (
            "mongodb://u:p@h1:27017,h2/expdb?replicaSet=rs",
            {"url": "mongodb://u:p@h1:27017,h2/expdb?replicaSet=rs", "db_name": "expdb"},
        ),
        ("mongodb+srv://cluster.example.net", {"url": "mongodb+srv://cluster.example.net"}),
    ],
)
def test_parse_mongo_db_arg(value, expected):
    assert opts.parse_mongo_db_arg(value) == expected


@pytest.mark.parametrize("value", ["", "1db", "h:port:db", "db.", "db!x", "a b"])
def test_bad_mongo_spec_is_a_usage_error(value):
    with pytest.raises(UsageError, match="--mongo_db"):
        opts.parse_mongo_db_arg(value)


def test_converters_accept_good_and_reject_bad_values():
    assert opts.parse_loglevel("10") == 10
    assert opts.parse_loglevel("warning") == 30
    assert opts.parse_beat_interval("0.5") == 0.5
    assert opts.parse_capture_mode("sys") == "sys"
    assert opts.parse_priority("-2") == -2.0
    with pytest.raises(UsageError, match="did you mean 'DEBUG'"):
        opts.parse_loglevel("DEBG")
    with pytest.raises(UsageError, match="log level 'LOUD'"):
        opts.parse_loglevel("LOUD")
    for bad in ("0", "-1", "fast", "nan", "inf"):
        with pytest.raises(UsageError, match="--beat-interval"):
            opts.parse_beat_interval(bad)
    with pytest.raises(UsageError, match="did you mean 'fd'"):
        opts.parse_capture_mode("fdd")
    with pytest.raises(UsageError, match="must be a number"):
        opts.parse_priority("x")


def test_validate_options_names_the_bad_value_and_ignores_unset_ones():
    opts.validate_options({"--capture": None, "--force": False, "--priority": "3"})
    with pytest.raises(UsageError, match="capture mode 'foo'"):
        opts.validate_options({"--capture": "foo"})


def test_apply_options_changes_the_run():
    ex = types.SimpleNamespace(additional_cli_options=[])
    logger = types.SimpleNamespace(
        level=None, setLevel=lambda lvl: setattr(logger, "level", lvl), getChild=lambda name: f"child:{name}"
    )
    run = types.SimpleNamespace(meta_info={}, experiment_info={"name": "x"}, observers=[], root_logger=logger)
    opts.apply_options(
        run,
        {
            "--beat-interval": "2",
            "--capture": "no",
            "--comment": "hi",
            "--debug": True,
            "--pdb": True,
            "--force": True,
            "--id": "7",
            "--loglevel": "ERROR",
            "--name": "other",
            "--priority": "4",
            "--queue": True,
            "--unobserved": True,
            "--help": False,
        },
        ex,
    )
    assert (run.beat_interval, run.capture_mode, run.debug, run.pdb, run.force) == (
        2.0,
        "no",
        True,
        True,
        True,
    )
    assert run.meta_info == {"comment": "hi", "priority": 4.0}
    assert (run._id, logger.level, run.experiment_info["name"]) == ("7", 40, "other")
    assert run.run_logger == "child:other" and run.queue_only and run.unobserved


# ---- usage text ---------------------------------------------------------------------------------


def test_format_usage_layout_matches_sacred():
    def main():
        pass

    def hello():
        """Say hello.

        More text."""

    commands = {"hello": hello, "main": main}
    text = format_usage("train.py", "Doc.\n", commands, opts.default_options())
    assert text.startswith(
        "Usage:\n  train.py [(with UPDATE...)] [options]\n"
        "  train.py help [COMMAND]\n  train.py (-h | --help)\n"
        "  train.py COMMAND [(with UPDATE...)] [options]\n\nDoc.\n\nOptions:\n"
        "  -b VALUE --beat-interval=VALUE  Set the heart-beat"
    )
    assert "\n  -c VALUE --comment=VALUE      Add a comment to this run.\n" in text
    assert "\n  -h --help                     Print this help message and exit.\n" in text
    assert text.endswith("\nCommands:\n  hello     Say hello.\n  main\n")
    last = printable_usage(text).splitlines()[-1]
    assert last == "  train.py COMMAND [(with UPDATE...)] [options]"
    assert format_usage("my train.py", None, {}, []).startswith("Usage:\n  'my train.py' [(with")


# ---- diagnosis of rejected command lines --------------------------------------------------------


@pytest.mark.parametrize(
    "words,message",
    [
        (["--forc", "--forc"], "option --force is given more than once"),
        (["--fource"], "unknown option --fource (did you mean '--force'?)"),
        (["--f"], "option --f is ambiguous: it could be --file_storage, --force"),
        (["-F"], "option -F needs a value"),
        (["--file_storage"], "option --file_storage needs a value"),
        (["--force=3"], "option --force is a flag and takes no value"),
        (["-x"], "unknown option -x"),
        (["-B", "3"], "unknown option -B (did you mean '-b'?)"),
        (["-fuF"], "option -F needs a value"),
        (["hello", "lr=3"], "unexpected argument 'lr=3'"),
        (["help", "a", "b"], "unexpected argument 'b'"),
    ],
)
def test_diagnose_names_what_is_wrong(words, message):
    assert message in diagnose(words, opts.default_options(), "fallback")


def test_diagnose_falls_back_when_it_finds_nothing():
    assert diagnose(["-fuFruns", "with", "a=-1"], opts.default_options(), "FB") == "FB"


# ---- printing -----------------------------------------------------------------------------------

CONFIG = {
    "__doc__": "Fast preset.",
    "epochs": 1,
    "lr": 0.1,
    "seed": 430367117,
    "tag": "quoted",
    "dataset": {"batch": 256, "path": "/data/x"},
    "opt": {"momentum": 0.9, "name": "adam"},
}
MODS = types.SimpleNamespace(
    added=set(),
    typechanged={},
    modified={"epochs", "tag", "dataset", "dataset.batch", "opt", "opt.name"},
    docs={
        "epochs": "number of epochs",
        "lr": "learning rate",
        "seed": "the random seed for this experiment",
        "dataset.path": "where the data lives",
    },
)

APPENDIX_B = """\
Configuration (^[[34mmodified^[[0m, ^[[32madded^[[0m, ^[[31mtypechanged^[[0m, ^[[2mdoc^[[0m):
^[[2m  \"\"\"Fast preset.\"\"\"^[[0m
^[[34m  epochs = 1                         ^[[2m# number of epochs^[[0m^[[0m
  lr = 0.1                           ^[[2m# learning rate^[[0m
  seed = 430367117                   ^[[2m# the random seed for this experiment^[[0m
^[[34m  tag = 'quoted'^[[0m
^[[34m  dataset:^[[0m
^[[34m    batch = 256^[[0m
    path = '/data/x'                 ^[[2m# where the data lives^[[0m
^[[34m  opt:^[[0m
    momentum = 0.9
^[[34m    name = 'adam'^[[0m"""


def test_format_config_reproduces_sacreds_coloured_output():
    assert format_config(CONFIG, MODS, color=True).replace("\x1b", "^[") == APPENDIX_B


def test_format_config_plain_marks_with_signs_and_handles_types_and_long_values():
    mods = types.SimpleNamespace(
        added={"new"},
        modified={"opt", "opt.lr"},
        typechanged={"lr": (float, str)},
        docs={"lr": "learning rate"},
    )
    config = {
        "lr": "high",
        "new": 1,
        "long": list(range(40)),
        "empty": {},
        3: "int key",
        "opt": {"lr": 0.1, "name": "sgd"},
    }
    plain = format_config(config, mods, color=False)
    assert "\x1b" not in plain
    lines = plain.splitlines()
    assert lines[0] == "Configuration (* modified, + added, ! typechanged, # doc):"
    assert lines[1] == "  3 = 'int key'"
    assert "  empty = {}" in lines
    assert "! lr = 'high'                        # learning rate" in lines
    assert "+ new = 1" in lines
    assert lines[-3:] == ["* opt:", "  * lr = 0.1", "    name = 'sgd'"]
    assert any(line.startswith("  long = [0,") for line in lines)
    assert any(line.startswith("          ") for line in lines)  # pformat continuation aligned
    coloured = format_config(config, mods, color=True)
    assert "\x1b[31m  lr = 'high'" in coloured and "\x1b[32m  new = 1\x1b[0m" in coloured
    assert format_config({"a": 1}, types.SimpleNamespace()).splitlines() == [
        "Configuration (modified, added, typechanged, doc):",
        "  a = 1",
    ]
    assert format_config({}, None) == "Configuration (modified, added, typechanged, doc):"


def test_format_named_configs_shows_docstrings():
    def fast():
        """Fast preset."""

    def multi():
        """Line one.

        Line two."""

    text = format_named_configs([("fast", fast), ("big", {"batch": 3}), ("multi", multi)])
    assert text.splitlines()[:3] == ["Named Configurations (doc):", "  fast   # Fast preset.", "  big"]
    assert '    """Line one.' in text
    assert format_named_configs([]) == "Named Configurations (doc):\n  No named configs"


def test_format_dependencies():
    info = {
        "dependencies": ["numpy==1.26.0", "experimentkit==0.1.0"],
        "sources": [["train.py", "abc123"]],
        "repositories": [{"url": "git@x:y.git", "commit": "deadbeef", "dirty": True}],
    }
    lines = format_dependencies(info).splitlines()
    assert lines[:3] == [
        "Dependencies:",
        "  numpy                == 1.26.0",
        "  experimentkit        == 0.1.0",
    ]
    assert "  train.py" + " " * 35 + "  abc123" in lines
    assert lines[-1] == "M git@x:y.git" + " " * 32 + "  deadbeef"
    assert "\x1b[31mM" in format_dependencies(info, color=True)
    assert "Version Control" not in format_dependencies({"dependencies": [], "sources": []})


def test_use_color_follows_no_color_force_color_and_tty(monkeypatch):
    tty = types.SimpleNamespace(isatty=lambda: True)
    pipe = types.SimpleNamespace(isatty=lambda: False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    assert use_color(tty) and not use_color(pipe) and not use_color(None)
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert use_color(pipe)
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color(tty)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: st.dictionaries(st.text("abc", min_size=1, max_size=3), inner, max_size=3),
        max_leaves=10,
    )
)
def test_format_config_lists_every_leaf_once(tree):
    config = {"root": tree}
    text = format_config(config, None)
    leaves = []

    def walk(value):
        if isinstance(value, dict) and value:
            for v in value.values():
                walk(v)
        else:
            leaves.append(value)

    walk(config)
    assert len(text.splitlines()) - 1 == len(leaves) + sum(
        1 for line in text.splitlines()[1:] if line.endswith(":")
    )


# ---- plugins (fake entry points) ----------------------------------------------------------------


class FakeEntryPoint:
    def __init__(self, name, value, obj=None, error=None):
        self.name, self.value, self.group = name, value, plugins.ENTRY_POINT_GROUP
        self._obj, self._error = obj, error

    def load(self):
        if self._error:
            raise self._error
        return self._obj


class GoodPlugin:
    """Send the run to the moon."""

    short_flag = "-M"
    long_flag = "--moon"
    arg = "DEST"
    arg_description = "Which crater."

    def apply(self, args, run):
        run.observers.append(("moon", args))


@pytest.fixture
def fake_plugins(monkeypatch):
    found = []
    monkeypatch.setattr(plugins, "_entry_points", lambda: list(found))
    plugins.clear_plugin_cache()
    yield found
    plugins.clear_plugin_cache()


def test_plugin_option_joins_help_and_applies(fake_plugins):
    fake_plugins.append(FakeEntryPoint("moon", "moonpkg:option", GoodPlugin()))
    ex = types.SimpleNamespace(additional_cli_options=[])
    options = opts.gather_options(ex)
    names = [o.get_flag() for o in options]
    assert names.index("--mongo_db") < names.index("--moon") < names.index("--name")
    text = format_usage("t.py", "", {}, options)
    assert f"  {'-M DEST --moon=DEST':28}  Send the run to the moon.\n" in text
    assert "  DEST      Which crater.\n" in text
    run = types.SimpleNamespace(observers=[])
    opts.apply_options(run, {"--moon": "tycho"}, ex)
    assert run.observers == [("moon", "tycho")]


def test_plugin_may_be_a_cli_option(fake_plugins):
    @opts.cli_option("-J", "--jet", is_flag=True)
    def jet_option(args, run):
        """Jet."""

    fake_plugins.append(FakeEntryPoint("jet", "jetpkg:jet_option", jet_option))
    assert jet_option in opts.gather_options(types.SimpleNamespace(additional_cli_options=[]))


@pytest.mark.parametrize(
    "entry,message",
    [
        (
            FakeEntryPoint("broken", "nopkg.mod:opt", error=ModuleNotFoundError("No module named 'nopkg'")),
            r"Cannot load observer plugin 'broken' \(nopkg.mod:opt\).*ModuleNotFoundError.*nopkg",
        ),
        (
            FakeEntryPoint("half", "half:opt", types.SimpleNamespace(short_flag="-H", apply=print)),
            "observer plugin 'half' \\(half:opt\\).*lacks long_flag, arg",
        ),
        (
            FakeEntryPoint(
                "badflag",
                "bf:opt",
                types.SimpleNamespace(
                    short_flag="-HH", long_flag="--hh", arg=None, arg_description=None, apply=print
                ),
            ),
            "observer plugin 'badflag'.*Short flag malformed",
        ),
        (
            FakeEntryPoint(
                "noapply",
                "na:opt",
                types.SimpleNamespace(
                    short_flag="-H", long_flag="--hh", arg=None, arg_description=None, apply=3
                ),
            ),
            "observer plugin 'noapply'.*callable apply",
        ),
        (
            FakeEntryPoint(
                "badarg",
                "ba:opt",
                types.SimpleNamespace(
                    short_flag="-H", long_flag="--hh", arg="TWO WORDS", arg_description="", apply=print
                ),
            ),
            "observer plugin 'badarg'.*one word",
        ),
    ],
)
def test_broken_plugins_raise_errors_naming_them(fake_plugins, entry, message):
    fake_plugins.append(entry)
    with pytest.raises(ObserverError, match=message) as info:
        opts.gather_options(types.SimpleNamespace(additional_cli_options=[]))
    assert info.value.print_traceback is False


def test_plugin_flag_clash_names_both_owners(fake_plugins):
    clash = types.SimpleNamespace(
        short_flag="-F", long_flag="--files", arg="D", arg_description="", apply=print
    )
    fake_plugins.append(FakeEntryPoint("clash", "clashpkg:opt", clash))
    with pytest.raises(ValueError, match="flag -F of observer plugin 'clash'.*file_storage_option"):
        opts.gather_options(types.SimpleNamespace(additional_cli_options=[]))


def test_additional_cli_options_are_appended_unsorted():
    @opts.cli_option("-z", "--zzz", is_flag=True)
    def a_option(args, run):
        """Z."""

    options = opts.gather_options(types.SimpleNamespace(additional_cli_options=[a_option]))
    assert options[-1] is a_option
    with pytest.raises(ValueError, match="is not a command-line option"):
        opts.gather_options(types.SimpleNamespace(additional_cli_options=[object()]))
