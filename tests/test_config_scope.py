"""ConfigScope / ConfigDict / ConfigSummary / evaluate_scopes behaviour."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import pytest

from experimentkit.config import (
    ConfigDict,
    ConfigScope,
    ConfigSummary,
    InvalidKeyError,
    evaluate_scopes,
)
from experimentkit.errors import ConfigError, UsageError

GLOBAL_FACTOR = 7


def test_locals_become_entries_and_tuples_become_lists():
    def cfg():
        a = 1
        b = "x"
        c = (1, (2, 3))
        d = {"e": (4,)}

    assert ConfigScope(cfg)() == {"a": 1, "b": "x", "c": [1, [2, 3]], "d": {"e": [4]}}


def test_fixed_value_replaces_assignment_and_flows_into_later_lines():
    def cfg():
        a = 10
        b = a * 2

    result = ConfigScope(cfg)(fixed={"a": 3})
    assert result == {"a": 3, "b": 6}
    assert result.modified == {"a"} and result.added == set() and result.typechanged == {}


def test_fixed_float_into_int_format_like_sacred():
    def cfg():
        epochs = 3
        tag = "run-%d" % epochs  # noqa: UP031 - the Sacred example

    result = ConfigScope(cfg)(fixed={"epochs": 2.5})
    assert result["tag"] == "run-2"
    assert result.typechanged == {"epochs": (int, float)}


def test_dict_assignment_merges_with_fixed_subkeys():
    def cfg():
        opt = {"name": "sgd", "lr": 0.1, "sched": {"gamma": 0.5, "step": 10}}

    result = ConfigScope(cfg)(fixed={"opt": {"lr": 0.5, "sched": {"step": 3}, "extra": True}})
    assert result["opt"] == {"name": "sgd", "lr": 0.5, "sched": {"gamma": 0.5, "step": 3}, "extra": True}
    assert result.added == {"opt.extra"}
    assert {"opt", "opt.lr", "opt.sched.step"} <= result.modified


def test_fixed_dict_blocks_item_assignment_after_the_dict():
    def cfg():
        d = {"a": 1}
        d["a"] = 2
        d["b"] = 3

    assert ConfigScope(cfg)(fixed={"d": {"a": 9}})["d"] == {"a": 9, "b": 3}


def test_fixed_list_ignores_in_place_changes():
    def cfg():
        layers = [1, 2]
        layers.append(3)

    assert ConfigScope(cfg)(fixed={"layers": [8]})["layers"] == [8]
    assert ConfigScope(cfg)()["layers"] == [1, 2, 3]


def test_fixed_values_are_not_mutated():
    fixed = {"d": {"a": 1}}

    def cfg():
        d = {"b": 2}

    ConfigScope(cfg)(fixed=fixed)
    assert fixed == {"d": {"a": 1}}


def test_equal_fixed_value_is_not_modified_and_none_is_no_typechange():
    def cfg():
        a = 1
        b = None

    result = ConfigScope(cfg)(fixed={"a": 1, "b": "x"})
    assert result.modified == {"b"} and result.typechanged == {}


def test_typechange_recorded():
    def cfg():
        a = 1

    result = ConfigScope(cfg)(fixed={"a": "one"})
    assert result.typechanged == {"a": (int, str)}
    assert "a" not in result.modified


def test_added_for_unknown_fixed_keys():
    def cfg():
        a = 1

    result = ConfigScope(cfg)(fixed={"new": 2, "sub": {"k": 1}})
    assert result == {"a": 1, "new": 2, "sub": {"k": 1}}
    # a whole new dict counts as added, as do its leaves
    assert result.added == {"new", "sub", "sub.k"}
    chained = evaluate_scopes([ConfigScope(cfg)], fixed={"new": 2, "sub": {"k": 1}})
    assert chained.added == {"new", "sub.k"}  # the chain reports leaves; the parent is "modified"
    assert "sub" in chained.modified


def test_comprehensions_lambdas_and_globals_see_entries():
    def cfg():
        base = 2
        sizes = [base * i for i in range(3)]
        table = {k: base for k in "ab"}
        scaled = GLOBAL_FACTOR * base

    assert ConfigScope(cfg)() == {"base": 2, "sizes": [0, 2, 4], "table": {"a": 2, "b": 2}, "scaled": 14}


def test_closure_variables_are_visible():
    offset = 5

    def cfg():
        a = offset + 1

    assert ConfigScope(cfg)() == {"a": 6}


def test_imported_modules_are_dropped_but_usable():
    def cfg():
        import math
        from os import path as ospath

        root = math.sqrt(16)
        sep_ok = ospath.join("a", "b") == "a" + ospath.sep + "b"

    assert ConfigScope(cfg)() == {"root": 4.0, "sep_ok": True}


def test_docstring_becomes_doc_entry_and_attribute():
    def cfg():
        """Fast preset."""
        a = 1

    scope = ConfigScope(cfg)
    assert scope.__doc__ == "Fast preset."
    assert scope() == {"__doc__": "Fast preset.", "a": 1}


def test_docs_from_comments():
    def cfg():
        lr = 0.1  # learning rate
        # number of epochs
        epochs = 3

        # separated by a blank line

        batch = 32
        momentum = 0.9  # pylint: disable=invalid-name
        # noinspection PyUnusedLocal
        # the dropout rate
        # noinspection PyUnusedLocal
        dropout = 0.5
        if True:
            depth = 3  # network depth
        a, b = 1, 2  # a pair
        msg = "# not a comment"

    docs = ConfigScope(cfg)().docs
    assert docs == {
        "lr": "learning rate",
        "epochs": "number of epochs",
        "dropout": "the dropout rate",
        "depth": "network depth",
        "a": "a pair",
        "b": "a pair",
    }


def test_indented_multiline_string_at_column_zero():
    class Holder:
        @staticmethod
        def cfg():
            text = """first
second"""
            n = 1  # count

    scope = ConfigScope(Holder.cfg)
    assert scope() == {"text": "first\nsecond", "n": 1}
    assert scope.docs == {"n": "count"}


def test_parameters_from_preset_and_fallback():
    def cfg(a, dataset, _log):
        b = a + dataset["n"]
        _log.info("computing")

    scope = ConfigScope(cfg)
    assert scope.args == ["a", "dataset", "_log"] and scope.arg_spec == scope.args
    result = scope(
        preset={"a": 1, "other": {"x": 1}}, fallback={"dataset": {"n": 4}, "_log": logging.getLogger("t")}
    )
    # presets are part of the result (chained scopes deep-merge); fallbacks are not
    assert result == {"a": 1, "b": 5, "other": {"x": 1}}


def test_unknown_parameter_raises_keyerror_with_options():
    def cfg(missing):
        a = 1

    with pytest.raises(
        KeyError,
        match=r"'missing' not in preset for ConfigScope. "
        r"Available options are: \{'a'\}",
    ):
        ConfigScope(cfg)(preset={"a": 1})


def test_assigning_to_ingredient_is_ignored_with_warning(caplog):
    def cfg():
        dataset = {"n": 5}
        a = 1

    with caplog.at_level(logging.WARNING):
        result = ConfigScope(cfg)(fallback={"dataset": {"n": 1}})
    assert result == {"a": 1}
    assert result.ignored_fallbacks == {"dataset"}
    assert 'Ignored attempt to set value of "dataset", because it is an ingredient.' in caplog.text


def test_invalid_key_in_scope_raises():
    def cfg():
        d = {"a.b": 1}

    with pytest.raises(
        KeyError, match='Invalid key "a.b". Config-keys cannot contain "." or start with "\\$"'
    ):
        ConfigScope(cfg)()


def test_unsupported_parameters_rejected():
    def cfg(a=1):
        b = a

    def cfg2(*args):
        b = 1

    for func in (cfg, cfg2):
        with pytest.raises(ConfigError, match="unsupported parameter"):
            ConfigScope(func)


def test_body_with_return_is_called_and_fixed_wins():
    def cfg(a):
        """Returning config."""
        if a > 0:
            return {"b": a + 1, "c": 2}
        return {"b": 0}

    result = ConfigScope(cfg)(fixed={"c": 9, "new": 1}, preset={"a": 1})
    assert result == {"a": 1, "b": 2, "c": 9, "new": 1, "__doc__": "Returning config."}
    assert result.modified == {"c"} and result.added == {"new"}


def test_yield_rejected():
    def cfg():
        yield {"a": 1}

    with pytest.raises(ConfigError, match="yield"):
        ConfigScope(cfg)


def test_exec_defined_function_is_called():
    namespace: dict = {}
    exec("def cfg(a):\n    '''From exec.'''\n    return {'b': a * 2, 't': (1, 2)}\n", namespace)
    result = ConfigScope(namespace["cfg"])(fixed={"b": 0}, preset={"a": 3})
    assert result == {"a": 3, "b": 0, "t": [1, 2], "__doc__": "From exec."}
    assert result.modified == {"b"}


def test_exec_defined_function_not_returning_dict_is_clear_error():
    namespace: dict = {}
    exec("def cfg():\n    x = 1\n", namespace)
    with pytest.raises(
        ConfigError,
        match="config function 'cfg' has no readable source; make it return a dict of config values",
    ):
        ConfigScope(namespace["cfg"])()


def test_lambda_is_called():
    assert ConfigScope(lambda: {"a": 1})() == {"a": 1}


def test_scope_in_script_file(tmp_path):
    script = tmp_path / "exp.py"
    script.write_text(
        textwrap.dedent("""
        from experimentkit.config import ConfigScope

        def make():
            def cfg():
                lr = 0.1  # learning rate
                steps = int(1 / lr)
            return ConfigScope(cfg)

        result = make()(fixed={"lr": 0.5})
        print(sorted(result.items()), result.docs)
    """)
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[('lr', 0.5), ('steps', 2)] {'lr': 'learning rate'}"


def test_error_in_body_points_at_real_line():
    def cfg():
        a = 1
        b = undefined_name  # noqa: F821

    with pytest.raises(NameError) as info:
        ConfigScope(cfg)()
    frame = info.traceback[-1]
    assert frame.path.name == "test_config_scope.py"
    assert "undefined_name" in str(frame.statement)


def test_config_dict():
    cd = ConfigDict({"a": 1, "t": (1, 2), "d": {"x": 1}})
    result = cd(fixed={"a": 2, "d": {"y": 2}}, preset={"p": 1})
    assert result == {"a": 2, "t": [1, 2], "d": {"x": 1, "y": 2}, "p": 1}
    assert isinstance(result, ConfigSummary)
    assert result.modified == {"a", "d"} and result.added == {"d.y"}


def test_config_dict_validates_keys_and_type():
    with pytest.raises(InvalidKeyError, match=r"^Invalid key \"\$a\"\. Config-keys cannot contain"):
        ConfigDict({"$a": 1})
    with pytest.raises(
        KeyError,
        match=r"Invalid key \"py/object\"\. Config-keys cannot be one of the reserved jsonpickle tags",
    ):
        ConfigDict({"x": {"py/object": "os.system"}})
    with pytest.raises(UsageError, match=r"^a config dict must be a dict, not list$"):
        ConfigDict([1, 2])  # type: ignore[arg-type]


def test_evaluate_scopes_chain_deep_merges_and_intersects_added():
    def first():
        d = {"a": 1}
        n = 1

    def second(n):
        d = {"b": n + 1}

    result = evaluate_scopes([ConfigScope(first), ConfigScope(second)], fixed={"n": 5, "extra": 1})
    assert result == {"d": {"a": 1, "b": 6}, "n": 5, "extra": 1}
    assert result.added == {"extra"}
    assert result.modified == {"n"}


def test_evaluate_scopes_without_scopes_returns_fixed():
    result = evaluate_scopes([], fixed={"a": {"b": 1}}, preset={"a": {"c": 2}})
    assert result == {"a": {"b": 1, "c": 2}}
    assert result.added == {"a.b"}


def test_summary_update_add_prefixes_paths_and_pickles():
    import pickle

    inner = ConfigSummary(
        {"x": 1}, added={"x"}, modified={"y.z"}, typechanged={"t": (int, str)}, docs={"x": "doc"}
    )
    outer = ConfigSummary()
    outer.update_add(inner, path="ing")
    assert outer.added == {"ing.x"}
    assert outer.modified == {"ing", "ing.y", "ing.y.z"}
    assert outer.typechanged == {"ing.t": (int, str)}
    assert outer.docs == {"ing.x": "doc"}
    clone = pickle.loads(pickle.dumps(inner))
    assert clone == inner and clone.added == {"x"} and clone.docs == {"x": "doc"}


def test_import_does_not_load_heavy_modules():
    code = (
        "import sys, experimentkit.config; "
        "print(sorted(m for m in ('numpy', 'yaml', 'jsonpickle') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
