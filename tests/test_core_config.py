"""Configuration through the public Experiment API: scopes, dicts, files, named configs, checks."""

import json
import logging

import pytest

from experimentkit import Experiment, Ingredient
from experimentkit.errors import (
    ConfigAddedError,
    ConfigError,
    MissingConfigError,
    NamedConfigNotFoundError,
    ReadOnlyConfigError,
    SacredError,
    UnstorableConfigError,
)


def make_ex(name="demo", **kwargs):
    return Experiment(name, **kwargs)


def test_dependent_entries_follow_updates():
    ex = make_ex()

    @ex.config
    def cfg():
        a = 10
        b = a * 2

    @ex.main
    def main(a, b):
        return a, b

    assert ex.run().result == (10, 20)
    assert ex.run(config_updates={"a": 3}).result == (3, 6)


def test_config_docs_from_comments_and_seed_doc():
    ex = make_ex()

    @ex.config
    def cfg():
        lr = 0.1  # learning rate
        # number of epochs
        epochs = 3

    @ex.main
    def main():
        pass

    run = ex.resolve()
    assert run.config_modifications.docs["lr"] == "learning rate"
    assert run.config_modifications.docs["epochs"] == "number of epochs"
    assert run.config_modifications.docs["seed"] == "the random seed for this experiment"


def test_scopes_dicts_and_files_combine_in_order(tmp_path):
    path = tmp_path / "extra.json"
    path.write_text(json.dumps({"c": 3, "nested": {"y": 2}}))
    ex = make_ex()
    ex.add_config({"a": 1, "nested": {"x": 1}})

    @ex.config
    def cfg2(a):
        b = a + 1

    ex.add_config(str(path))
    ex.add_config(d=4)

    @ex.main
    def main(_config):
        return dict(_config)

    cfg = ex.run(config_updates={"seed": 1}).result
    assert {k: cfg[k] for k in "abcd"} == {"a": 1, "b": 2, "c": 3, "d": 4}
    assert cfg["nested"] == {"x": 1, "y": 2}


def test_add_config_rejects_bad_input(tmp_path):
    ex = make_ex()
    with pytest.raises(ValueError, match="empty"):
        ex.add_config()
    with pytest.raises(
        TypeError, match=r"^Invalid argument type int: expected a dict or the path of a config file$"
    ):
        ex.add_config(42)
    with pytest.raises(ValueError, match="unsupported extension"):
        ex.add_config(str(tmp_path / "x.cfg"))


def test_named_configs_apply_in_order_and_updates_win():
    ex = make_ex()

    @ex.config
    def cfg():
        a = 1
        b = 1

    @ex.named_config
    def first():
        a = 10
        b = 10

    @ex.named_config
    def second():
        a = 20

    @ex.main
    def main(a, b):
        return a, b

    assert ex.run(named_configs=["first", "second"]).result == (20, 10)
    assert ex.run(named_configs=["second", "first"]).result == (10, 10)
    assert ex.run(named_configs=["first"], config_updates={"a": 99}).result == (99, 10)
    with pytest.raises(NamedConfigNotFoundError, match="did you mean .first"):
        ex.run(named_configs=["frist"])


def test_named_config_from_dict_and_file(tmp_path):
    ex = make_ex()
    ex.add_config(a=1)
    ex.add_named_config("big", {"a": 100})
    path = tmp_path / "upd.json"
    path.write_text('{"a": 7}')

    @ex.main
    def main(a):
        return a

    assert ex.run(named_configs=["big"]).result == 100
    assert ex.run(named_configs=[str(path)]).result == 7


def test_typo_update_is_an_error_with_suggestion():
    ex = make_ex()

    @ex.config
    def cfg():
        learning_rate = 0.1

    @ex.main
    def main(learning_rate):
        return learning_rate

    with pytest.raises(ConfigAddedError, match="did you mean 'learning_rate'"):
        ex.run(config_updates={"learning_rat": 0.2})
    assert ex.run(config_updates={"learning_rat": 0.2}, options={"--force": True}).status == "COMPLETED"


def test_added_entry_used_by_a_captured_function_is_allowed(caplog):
    ex = make_ex()

    @ex.capture
    def helper(extra=5):
        return extra

    @ex.main
    def main():
        return helper()

    with caplog.at_level(logging.WARNING):
        assert ex.run(config_updates={"extra": 7}).result == 7
    assert 'Added new config entry: "extra"' in caplog.text


def test_type_change_by_an_update_is_an_error(caplog):
    ex = make_ex()
    ex.add_config(batch=32)

    @ex.main
    def main(batch):
        return batch

    with pytest.raises(
        ConfigError,
        match=r'^Config update batch=\'big\' changes the type of "batch" '
        r"from int to str; give a int, or pass -f/--force",
    ):
        ex.run(config_updates={"batch": "big"})
    with caplog.at_level(logging.WARNING):
        assert ex.run(config_updates={"batch": 64.0}).result == 64.0  # another kind of number is fine
        assert ex.run(config_updates={"batch": "big"}, options={"--force": True}).result == "big"
    assert "Changed type" not in caplog.text


def test_trailing_comma_suggests_the_scalar():
    ex = make_ex()
    ex.add_config(lr=0.1)

    @ex.main
    def main(lr):
        return lr

    with pytest.raises(ConfigError, match=r"did you mean lr=0.1\?") as info:
        ex.run(config_updates={"lr": [0.1]})
    assert "FixedList" not in str(info.value) and "\n" not in str(info.value)


def test_named_config_type_change_only_warns(caplog):
    ex = make_ex()
    ex.add_config(batch=32)
    ex.add_named_config("huge", batch="all")

    @ex.main
    def main(batch):
        return batch

    with caplog.at_level(logging.WARNING):
        assert ex.run(named_configs=["huge"]).result == "all"
    assert 'Changed type of config entry "batch" from int to str' in caplog.text


def test_repeating_a_default_is_not_an_added_entry(caplog):
    ex = make_ex()

    @ex.config
    def cfg():
        opt = None
        lr = 0.1

    @ex.main
    def main(_config):
        return dict(_config)

    with caplog.at_level(logging.WARNING):
        run = ex.run(config_updates={"opt": None, "lr": 0.1})
    assert run.result["opt"] is None
    assert "Added new config entry" not in caplog.text
    assert run.config_modifications.added == set()


def test_read_only_config_names_the_key():
    ex = make_ex()
    ex.add_config(optimizer={"lr": 0.1}, layers=[1, 2])

    @ex.main
    def main(optimizer, layers, _config):
        with pytest.raises(ReadOnlyConfigError, match="optimizer.lr"):
            optimizer["lr"] = 1
        with pytest.raises(SacredError, match=r"Cannot change 'layers'"):
            layers.append(3)
        with pytest.raises(ReadOnlyConfigError, match=r"Cannot change 'new'"):
            _config["new"] = 1
        return "ok"

    assert ex.run().result == "ok"


def test_unstorable_value_is_reported_at_start():
    ex = make_ex()

    @ex.config
    def cfg():
        model = object()

    @ex.main
    def main():
        raise AssertionError("must not start")

    with pytest.raises(UnstorableConfigError, match="model"):
        ex.run()


def test_numpy_values_are_storable():
    np = pytest.importorskip("numpy")
    ex = make_ex()
    ex.add_config(w=np.arange(3), s=np.float32(0.5))

    @ex.main
    def main(w, s):
        return float(w.sum() + s)

    assert ex.run().result == 3.5


def test_get_config_without_running():
    ex = make_ex()
    ran = []

    @ex.config
    def cfg():
        a = 1
        b = a + 1

    @ex.main
    def main():
        ran.append(1)

    assert ex.get_config({"a": 5, "seed": 3}) == {"a": 5, "b": 6, "seed": 3}
    assert ran == []


def test_config_hook_adjusts_config():
    ex = make_ex()
    ex.add_config(a=1)

    @ex.config_hook
    def hook(config, command_name, logger):
        return {"b": config["a"] * 10, "cmd": command_name}

    @ex.main
    def main(b, cmd):
        return b, cmd

    assert ex.run(config_updates={"a": 2}).result == (20, "main")
    with pytest.raises(ValueError, match="Wrong signature"):
        ex.config_hook(lambda config: None)


def test_missing_value_names_function_and_parameter():
    ex = make_ex()

    @ex.main
    def main(needed):
        return needed

    with pytest.raises(MissingConfigError, match=r"main is missing value\(s\): \['needed'\]"):
        ex.run()


def test_config_function_without_readable_source_returns_dict():
    ex = make_ex()
    namespace = {}
    exec("def cfg():\n    return {'lr': 0.5, 'depth': 2}\n", namespace)
    ex.config(namespace["cfg"])

    @ex.main
    def main(lr, depth):
        return lr * depth

    assert ex.run().result == 1.0
    assert ex.run(config_updates={"lr": 2}).result == 4


def test_ingredient_config_paths_and_updates():
    data = Ingredient("dataset")

    @data.config
    def dcfg():
        size = 100
        path = "/data"

    @data.named_config
    def tiny():
        size = 5

    @data.capture
    def load(size, path, _config):
        return size, path, sorted(_config)

    ex = make_ex(ingredients=[data])

    @ex.main
    def main(dataset):
        return load(), dict(dataset)

    (size, path, keys), seen = ex.run().result
    assert (size, path, keys) == (100, "/data", ["path", "size"])
    assert seen == {"size": 100, "path": "/data"}
    assert ex.run(config_updates={"dataset.size": 10}).result[0][0] == 10
    assert ex.run(config_updates={"dataset": {"size": 11}}).result[0][0] == 11
    assert ex.run(named_configs=["dataset.tiny"]).result[0][0] == 5
    assert dict(ex.gather_named_configs()).keys() == {"dataset.tiny"}


def test_experiment_named_config_sets_ingredient_values():
    data = Ingredient("dataset")
    data.add_config(size=1)
    ex = make_ex(ingredients=[data])
    ex.add_named_config("bigdata", {"dataset": {"size": 1000}})

    @data.capture
    def size_of(size):
        return size

    @ex.main
    def main():
        return size_of()

    assert ex.run(named_configs=["bigdata"]).result == 1000


def test_nested_ingredients_and_cycle():
    from experimentkit.errors import CircularDependencyError

    inner = Ingredient("inner")
    inner.add_config(x=1)
    outer = Ingredient("outer", ingredients=[inner])
    outer.add_config(y=2)
    ex = make_ex(ingredients=[outer])

    @outer.capture
    def outer_view(_config):
        return dict(_config)

    @ex.main
    def main():
        return outer_view()

    view = ex.run().result
    assert view["y"] == 2 and dict(view["inner"]) == {"x": 1}
    assert [(i.path, d) for i, d in ex.traverse_ingredients()] == [("demo", 0), ("outer", 1), ("inner", 2)]
    a = Ingredient("a")
    b = Ingredient("b", ingredients=[a])
    a.ingredients.append(b)
    with pytest.raises(CircularDependencyError, match="a->b->a"):
        list(a.traverse_ingredients())


def test_capture_prefix_reads_subtree():
    ex = make_ex()
    ex.add_config(optimizer={"lr": 0.3, "momentum": 0.9})

    @ex.capture(prefix="optimizer")
    def make(lr, momentum):
        return lr + momentum

    @ex.main
    def main():
        return make()

    assert ex.run().result == pytest.approx(1.2)
    assert ex.run(config_updates={"optimizer.lr": 1.0}).result == pytest.approx(1.9)


def test_modifications_report_added_modified_typechanged_and_parents(caplog):
    ex = make_ex()
    ex.add_config(lr=0.1, opt={"name": "sgd", "momentum": 0.9})

    @ex.named_config
    def fast():
        """Fast preset."""
        lr = 0.5

    @ex.main
    def main(lr, opt):
        return lr

    with caplog.at_level(logging.WARNING):
        run = ex.resolve(
            config_updates={"opt.name": "adam", "lr": "high"},
            named_configs=["fast"],
            options={"--force": True},
        )
    mods = run.config_modifications
    assert "opt.name" in mods.modified and "opt" in mods.modified
    assert mods.typechanged["lr"] == (float, str)
    # as Sacred: --force skips the checks, and their warnings with them
    assert [r.getMessage() for r in caplog.records] == []
    assert run.config["__doc__"] == "Fast preset."
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        ex.resolve(named_configs=["fast"])
    # only Sacred's own warning about the named config's docstring, from the root logger
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("root", 'Added new config entry: "__doc__"')
    ]


def test_added_entry_warnings_come_from_the_ingredients_logger_with_relative_keys(caplog):
    """As Sacred's scaffolds: an ingredient's entries are warned about by its own logger."""
    data = Ingredient("data")
    data.add_config(path="x")

    @data.capture
    def load(path, extra=0):
        return extra

    @data.named_config
    def big():
        """Big data."""
        extra = 3
        path = 5

    ex = make_ex(ingredients=[data])

    @ex.main
    def main():
        return load()

    with caplog.at_level(logging.WARNING):
        ex.resolve(named_configs=["data.big"])
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("data", 'Added new config entry: "__doc__"'),
        ("data", 'Added new config entry: "extra"'),
        ("data", 'Changed type of config entry "path" from str to int'),
    ]
