"""Sacred's module paths and names exist under experimentkit, behave as Sacred 0.8.7's (compared with
Sacred itself where it is installed), and load lazily."""

import importlib
import random
import subprocess
import sys
import warnings

import pytest

FACES = {
    "experimentkit.commands": ["print_config", "save_config", "print_dependencies", "help_for_command"],
    "experimentkit.arg_parser": ["get_config_updates", "parse_args", "format_usage"],
    "experimentkit.commandline_options": ["CLIOption", "cli_option", "CommandLineOption"],
    "experimentkit.serializer": ["flatten", "restore", "json"],
    "experimentkit.metrics_logger": ["ScalarMetricLogEntry", "linearize_metrics", "MetricsLogger"],
    "experimentkit.optional": ["has_numpy", "has_pandas", "has_sqlalchemy", "optional_import", "np"],
    "experimentkit.randomness": ["get_seed", "create_rnd", "set_global_seed"],
    "experimentkit.host_info": ["host_info_getter", "host_info_gatherer", "get_host_info"],
    "experimentkit.config.config_scope": ["ConfigScope"],
    "experimentkit.config.config_dict": ["ConfigDict"],
    "experimentkit.config.utils": ["assert_is_valid_key", "normalize_numpy", "recursive_fill_in"],
    "experimentkit.config.custom_containers": ["DogmaticDict", "ReadOnlyDict", "ReadOnlyList"],
    "experimentkit.utils": [
        "recursive_update",
        "get_by_dotted_path",
        "set_by_dotted_path",
        "join_paths",
        "iterate_flattened",
        "iterate_flattened_separately",
        "PathType",
        "format_filtered_stacktrace",
        "format_sacred_error",
        "SacredError",
    ],
    "experimentkit.observers.file_storage": ["FileStorageObserver", "DEFAULT_FILE_STORAGE_PRIORITY"],
    "experimentkit.observers.mongo": [
        "MongoObserver",
        "QueuedMongoObserver",
        "force_bson_encodeable",
        "DEFAULT_MONGO_PRIORITY",
    ],
    "experimentkit.observers.sql": ["SqlObserver", "DEFAULT_SQL_PRIORITY"],
    "experimentkit.observers.sql_bases": ["Host", "Experiment", "Run", "Source", "Resource"],
    "experimentkit.observers.queue": ["QueueObserver"],
    "experimentkit.observers.base": ["RunObserver", "td_format"],
    "experimentkit.observers.s3_observer": ["S3Observer", "DEFAULT_S3_PRIORITY"],
    "experimentkit.observers.gcs_observer": ["GoogleCloudStorageObserver", "DEFAULT_GCS_PRIORITY"],
    "experimentkit.observers.tinydb_hashfs": ["TinyDbObserver", "TinyDbReader"],
    "experimentkit.observers.slack": ["SlackObserver", "DEFAULT_SLACK_PRIORITY"],
    "experimentkit.observers.telegram_obs": ["TelegramObserver", "DEFAULT_TELEGRAM_PRIORITY"],
    "experimentkit.stflow": ["LogFileWriter"],
}


@pytest.mark.parametrize("module", sorted(FACES))
def test_sacred_module_paths_have_sacreds_names(module):
    loaded = importlib.import_module(module)
    missing = [name for name in FACES[module] if not hasattr(loaded, name)]
    assert missing == []


def test_default_priorities_are_sacreds():
    from experimentkit.observers import (
        file_storage,
        gcs_observer,
        mongo,
        s3_observer,
        slack,
        sql,
        telegram_obs,
    )

    assert (
        sql.DEFAULT_SQL_PRIORITY,
        mongo.DEFAULT_MONGO_PRIORITY,
        file_storage.DEFAULT_FILE_STORAGE_PRIORITY,
        s3_observer.DEFAULT_S3_PRIORITY,
        gcs_observer.DEFAULT_GCS_PRIORITY,
        slack.DEFAULT_SLACK_PRIORITY,
        telegram_obs.DEFAULT_TELEGRAM_PRIORITY,
    ) == (40, 30, 20, 20, 20, 10, 10)


def test_bare_import_reaches_submodules_lazily():
    code = (
        "import sys, experimentkit\n"
        "assert 'experimentkit.observers' not in sys.modules and 'experimentkit.run' not in sys.modules\n"
        "print(experimentkit.observers.FileStorageObserver.__name__, experimentkit.run.Run.__name__,\n"
        "      experimentkit.utils.join_paths('a', 'b'), experimentkit.dependencies.get_digest.__name__,\n"
        "      experimentkit.observers.mongo.MongoObserver.__name__)\n"
        "try:\n    experimentkit.no_such_thing\nexcept AttributeError as e:\n    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "FileStorageObserver Run a.b get_digest MongoObserver",
        "module 'experimentkit' has no attribute 'no_such_thing'",
    ]


def test_optional_flags_do_not_import_numpy_until_read():
    code = (
        "import sys, experimentkit.optional as opt\n"
        "assert 'numpy' not in sys.modules\n"
        "print(opt.has_sqlalchemy, 'numpy' in sys.modules, opt.has_numpy, 'numpy' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False", "True", "True"]


def test_host_info_getter_is_deprecated_and_gathered():
    from experimentkit import host_info

    with pytest.warns(DeprecationWarning, match="The host_info_getter is deprecated"):

        @host_info.host_info_getter
        def answer():
            return 42

    with pytest.warns(DeprecationWarning):
        host_info.host_info_getter(lambda: "x", name="named_fact")
    try:
        info = host_info.get_host_info()
        assert info["answer"] == 42 and info["named_fact"] == "x"
    finally:
        host_info.host_info_gatherers.pop("answer")
        host_info.host_info_gatherers.pop("named_fact")


def test_sql_observer_create_is_deprecated(tmp_path):
    from experimentkit.observers.sql import SqlObserver

    with pytest.warns(DeprecationWarning, match=r"SqlObserver.create\(...\) is deprecated"):
        observer = SqlObserver.create(f"sqlite:///{tmp_path / 'a.db'}")
    assert observer == SqlObserver(f"sqlite:///{tmp_path / 'a.db'}")


def test_metrics_logger_counts_steps_per_metric():
    from experimentkit.metrics_logger import MetricsLogger, linearize_metrics

    logger = MetricsLogger()
    logger.log_scalar_metric("loss", 1.0)
    logger.log_scalar_metric("loss", 0.5)
    logger.log_scalar_metric("acc", 0.1, step=10)
    logger.log_scalar_metric("acc", 0.2)
    entries = logger.get_last_metrics()
    assert [(e.name, e.step, e.value) for e in entries] == [
        ("loss", 0, 1.0),
        ("loss", 1, 0.5),
        ("acc", 10, 0.1),
        ("acc", 11, 0.2),
    ]
    assert logger.get_last_metrics() == []
    assert linearize_metrics(entries)["acc"]["steps"] == [10, 11]


def test_format_filtered_stacktrace_and_sacred_error():
    from experimentkit.errors import ConfigError
    from experimentkit.utils import format_filtered_stacktrace, format_sacred_error

    def user_code():
        raise ValueError("bad value")

    try:
        user_code()
    except ValueError:
        text = format_filtered_stacktrace()
    assert text.startswith("Traceback (most recent calls WITHOUT Sacred internals):")
    assert "user_code" in text and text.endswith("ValueError: bad value")
    with pytest.raises(ValueError, match="Unknown value for filter_traceback: sometimes"):
        format_filtered_stacktrace("sometimes")
    error = ConfigError("lr is wrong")
    assert format_sacred_error(error, "Usage: x").endswith("lr is wrong\n")


sacred = pytest.importorskip("sacred")


def test_utils_helpers_match_sacred():
    import sacred.utils as theirs

    import experimentkit.utils as ours

    d = {"b": 1, "a": {"y": 2, "x": {"deep": 3}}, "c": {}, "seed": 5}
    for args in ((d,), (d, ["seed"])):
        mine = [
            (k, "PATHCHANGE" if v is ours.PATHCHANGE else v)
            for k, v in ours.iterate_flattened_separately(*args)
        ]
        sacreds = [
            (k, "PATHCHANGE" if v is theirs.PATHCHANGE else v)
            for k, v in theirs.iterate_flattened_separately(*args)
        ]
        assert mine == sacreds
    assert list(ours.iterate_flattened(d)) == list(theirs.iterate_flattened(d))
    assert ours.join_paths("a", "", "b.c") == theirs.join_paths("a", "", "b.c")
    assert ours.get_by_dotted_path(d, "a.x.deep") == theirs.get_by_dotted_path(d, "a.x.deep")
    assert ours.is_prefix("a.b", "a.b.c") and not ours.is_prefix("a.b", "a.bc")
    assert ours.rel_path("a.b", "a.b.c.d") == theirs.rel_path("a.b", "a.b.c.d")


def test_arg_parser_matches_sacred():
    from sacred.arg_parser import get_config_updates as theirs

    from experimentkit.arg_parser import get_config_updates as ours

    words = ["a=1", "b.c=[1, 2]", "named", "d='text'", "e=None"]
    assert ours(words) == theirs(words)


def test_get_seed_draws_sacreds_seed_from_the_same_generator():
    np = pytest.importorskip("numpy")
    from sacred.randomness import get_seed as theirs

    from experimentkit.randomness import get_seed as ours

    assert ours(np.random.RandomState(7)) == theirs(np.random.RandomState(7))
    assert ours(random.Random(3)) == theirs(random.Random(3))
    assert 1 <= ours() <= 10**9


def test_commandline_option_class_flags_match_sacred():
    from sacred.commandline_options import CommandLineOption as Theirs

    from experimentkit.commandline_options import CommandLineOption as Ours

    for name in ("MyFancyOption", "HTTPServerOption", "Verbose"):
        mine = type(name, (Ours,), {})
        sacreds = type(name, (Theirs,), {})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert mine.get_flags() == sacreds.get_flags()


def test_force_bson_encodeable_matches_sacred():
    pytest.importorskip("bson")
    import datetime

    from sacred.observers.mongo import force_bson_encodeable as theirs

    from experimentkit.observers.mongo import force_bson_encodeable as ours

    d = {"$x": 1, "a.b": [1, (2, 3)], 4: {"m": datetime}, "ok": datetime.datetime(2020, 1, 1)}
    assert ours(d) == theirs(d)
