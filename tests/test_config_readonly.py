"""Read-only config views."""

from __future__ import annotations

import copy
import pickle
from collections import namedtuple

import pytest

from experimentkit.config import ReadOnlyDict, ReadOnlyList, make_read_only
from experimentkit.errors import ReadOnlyConfigError, SacredError

CONFIG = {"optimizer": {"lr": 0.1, "betas": [0.9, 0.99]}, "layers": [{"size": 3}], "pair": ({"a": 1}, [2])}


@pytest.fixture
def ro():
    return make_read_only(copy.deepcopy(CONFIG))


def test_structure_and_equality(ro):
    assert ro == CONFIG
    assert isinstance(ro, ReadOnlyDict) and isinstance(ro["optimizer"], ReadOnlyDict)
    assert isinstance(ro["optimizer"]["betas"], ReadOnlyList)
    assert isinstance(ro["layers"][0], ReadOnlyDict)
    assert isinstance(ro["pair"], tuple) and isinstance(ro["pair"][0], ReadOnlyDict)
    assert isinstance(ro["pair"][1], ReadOnlyList)


def test_original_untouched_and_independent():
    original = copy.deepcopy(CONFIG)
    view = make_read_only(original)
    original["optimizer"]["lr"] = 5
    assert view["optimizer"]["lr"] == 0.1


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda c: c.__setitem__("new", 1), "new"),
        (lambda c: c["optimizer"].__setitem__("lr", 1), "optimizer.lr"),
        (lambda c: c["optimizer"].__delitem__("lr"), "optimizer.lr"),
        (lambda c: c["optimizer"].pop("lr"), "optimizer.lr"),
        (lambda c: c["optimizer"].setdefault("wd", 0), "optimizer.wd"),
        (lambda c: c["optimizer"].update(lr=2), "optimizer.lr"),
        (lambda c: c["optimizer"].update({"mom": 2}), "optimizer.mom"),
        (lambda c: c["optimizer"].popitem(), "optimizer"),
        (lambda c: c["optimizer"].clear(), "optimizer"),
        (lambda c: c["optimizer"]["betas"].append(1), "optimizer.betas"),
        (lambda c: c["optimizer"]["betas"].__setitem__(0, 1), "optimizer.betas.0"),
        (lambda c: c["optimizer"]["betas"].__delitem__(1), "optimizer.betas.1"),
        (lambda c: c["optimizer"]["betas"].extend([1]), "optimizer.betas"),
        (lambda c: c["optimizer"]["betas"].insert(0, 1), "optimizer.betas"),
        (lambda c: c["optimizer"]["betas"].pop(), "optimizer.betas"),
        (lambda c: c["optimizer"]["betas"].remove(0.9), "optimizer.betas"),
        (lambda c: c["optimizer"]["betas"].sort(), "optimizer.betas"),
        (lambda c: c["optimizer"]["betas"].reverse(), "optimizer.betas"),
        (lambda c: c["optimizer"]["betas"].clear(), "optimizer.betas"),
        (lambda c: c["layers"][0].__setitem__("size", 4), "layers.0.size"),
        (lambda c: c["pair"][0].__setitem__("a", 2), "pair.a"),
    ],
)
def test_every_mutation_names_the_key(ro, mutate, key):
    with pytest.raises(ReadOnlyConfigError) as info:
        mutate(ro)
    assert str(info.value) == (
        f"The configuration is read-only in a captured function! Cannot change '{key}'. "
        f"Copy it first (copy.deepcopy) if you need a modified version."
    )
    assert isinstance(info.value, SacredError) and isinstance(info.value, TypeError)
    assert ro == CONFIG  # nothing changed


def test_in_place_operators(ro):
    opt = ro["optimizer"]
    with pytest.raises(ReadOnlyConfigError, match=r"Cannot change 'optimizer\.x'"):
        opt |= {"x": 1}
    betas = ro["optimizer"]["betas"]
    with pytest.raises(ReadOnlyConfigError, match=r"Cannot change 'optimizer\.betas'"):
        betas += [1]
    with pytest.raises(ReadOnlyConfigError, match=r"Cannot change 'optimizer\.betas'"):
        betas *= 2
    assert ro == CONFIG


def test_copies_are_plain_and_mutable(ro):
    shallow = copy.copy(ro)
    assert type(shallow) is dict and shallow == CONFIG
    shallow["new"] = 1
    deep = copy.deepcopy(ro)
    assert type(deep) is dict and type(deep["optimizer"]) is dict
    assert type(deep["optimizer"]["betas"]) is list and type(deep["pair"][0]) is dict
    deep["optimizer"]["lr"] = 1.0
    assert ro["optimizer"]["lr"] == 0.1
    lst = copy.copy(ro["optimizer"]["betas"])
    assert type(lst) is list


def test_pickle_gives_plain_containers(ro):
    clone = pickle.loads(pickle.dumps(ro))
    assert clone == CONFIG and type(clone) is dict and type(clone["optimizer"]) is dict
    assert type(pickle.loads(pickle.dumps(ro["layers"]))) is list


def test_root_level_whole_container_message():
    with pytest.raises(ReadOnlyConfigError, match="Cannot change it"):
        make_read_only({"a": 1}).clear()


def test_named_tuples_and_scalars():
    Point = namedtuple("Point", "x y")
    view = make_read_only({"p": Point({"a": 1}, 2)})
    assert isinstance(view["p"], Point) and isinstance(view["p"].x, ReadOnlyDict)
    assert make_read_only(3) == 3 and make_read_only("s") == "s"
