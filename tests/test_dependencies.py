"""Sources, package dependencies and git state, as recorded in experiment_info."""

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experimentkit.dependencies import (
    EnforceCleanError,
    GitUnavailableError,
    InvalidVersionError,
    PackageDependency,
    Source,
    SourceNotFoundError,
    dependencies_json,
    enforce_clean,
    gather_sources_and_dependencies,
    get_digest,
    get_git_info,
    is_local_source,
    is_valid_version,
    repositories_json,
    sources_json,
)
from experimentkit.errors import SettingError, UsageError
from experimentkit.settings import SETTINGS, Settings

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write(path, text=""):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def git(cwd, *args):
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


# ----------------------------------------------------------------------------------------- files


def test_digest_is_md5_of_the_whole_file(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)  # spans several 1 MB chunks
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    assert get_digest(str(path)) == hashlib.md5(data).hexdigest()


def test_source_create_and_to_json(tmp_path):
    path = write(tmp_path / "exp" / "train.py", "print('hi')\n")
    source = Source.create(str(path), save_git_info=False)
    assert source.filename == os.path.realpath(path)
    assert source.digest == hashlib.md5(b"print('hi')\n").hexdigest()
    assert (source.repo, source.commit, source.is_dirty) == (None, None, None)
    assert source.to_json(str(tmp_path)) == (os.path.join("exp", "train.py"), source.digest)
    assert source.to_json() == (source.filename, source.digest)
    assert source == Source.create(str(path), save_git_info=False) == source.filename


def test_source_prefers_the_py_file_over_its_pyc(tmp_path):
    write(tmp_path / "mod.py", "x = 1\n")
    (tmp_path / "mod.pyc").write_bytes(b"compiled")
    assert Source.create(str(tmp_path / "mod.pyc"), False).filename.endswith("mod.py")


def test_missing_source_file(tmp_path):
    missing = str(tmp_path / "nope.py")
    with pytest.raises(SourceNotFoundError) as info:
        Source.create(missing)
    assert isinstance(info.value, ValueError) and isinstance(info.value, UsageError)
    assert str(info.value) == f'invalid filename or file not found "{missing}"'


# -------------------------------------------------------------------------------------- versions


def test_package_dependency_create_and_json():
    dependency = PackageDependency.create("torch", "2.1.0+cu118")
    assert dependency.to_json() == "torch==2.1.0+cu118"
    assert dependency == PackageDependency("torch", "1.0")  # identity is the name
    assert dependencies_json(
        {PackageDependency("b", "1"), PackageDependency("A", "2"), PackageDependency("c", "3")}
    ) == ["A==2", "b==1", "c==3"]


@pytest.mark.parametrize(
    "version", ["1.0", "v1.0", "2!1.0.post1.dev3+local.7", "1.0rc1", "1.0-1", "1.0.0a", "0.8.7", " 1.2 "]
)
def test_valid_versions(version):
    assert PackageDependency.create("pkg", version).version == version


@pytest.mark.parametrize("version", ["", "foo", "1.0.", "1..0", "1.0+", "latest", "1.0 beta"])
def test_invalid_versions(version):
    with pytest.raises(InvalidVersionError) as info:
        PackageDependency.create("pkg", version)
    assert isinstance(info.value, ValueError) and isinstance(info.value, UsageError)
    assert str(info.value) == f'Invalid Version: "{version}"'


version_like = st.one_of(
    st.text(alphabet="0123456789.!+-_vabcdeoprstlvwi", max_size=14),
    st.builds(
        lambda *parts: "".join(parts),
        st.sampled_from(["", "v", "1!"]),
        st.lists(st.integers(0, 99).map(str), min_size=1, max_size=3).map(".".join),
        st.sampled_from(["", "a", "b1", "-rc.2", "c", "alpha", ".pre3", "preview_1"]),
        st.sampled_from(["", "-1", ".post", "post2", "_r3", "rev"]),
        st.sampled_from(["", ".dev", "dev4", "-dev_5"]),
        st.sampled_from(["", "+ubuntu", "+cu118.x-1", "+", "+a..b"]),
    ),
)


@settings(max_examples=400, deadline=None)
@given(version_like)
def test_version_check_agrees_with_packaging(text):
    version = pytest.importorskip("packaging.version")
    try:
        version.Version(text)
        expected = True
    except version.InvalidVersion:
        expected = False
    assert is_valid_version(text) == expected


# ------------------------------------------------------------------------------- local modules


@pytest.mark.parametrize(
    "relative, modname, expected",
    [
        ("pkg/mod.py", "pkg.mod", True),
        ("pkg/__init__.py", "pkg", True),
        ("mod.cpython-311-x86_64-linux-gnu.so", "mod", True),
        ("pkg/mod.py", "mod", False),  # imported from somewhere else on sys.path
        ("pkg/mod.py", "other.mod", False),
    ],
)
def test_is_local_source(tmp_path, relative, modname, expected):
    path = write(tmp_path / "base" / relative)
    assert is_local_source(str(path), modname, str(tmp_path / "base")) is expected


def test_is_local_source_outside_base_and_inside_a_package(tmp_path):
    outside = write(tmp_path / "elsewhere" / "mod.py")
    assert not is_local_source(str(outside), "mod", str(tmp_path / "base"))
    inside = write(tmp_path / "pkg" / "mod.py")  # the script runs from within package pkg
    assert is_local_source(str(inside), "pkg.mod", str(tmp_path / "pkg"))


# ------------------------------------------------------------------------------------ discovery

MAIN = """
    import json
    import sys

    import numpy
    import yaml

    import helper
    from pkg.sub import mod
    from pkg.sub.mod import func
    from experimentkit.settings import SETTINGS, Settings
    from experimentkit import dependencies as deps

    results = {}
    for sources in ["imported", "none", "dir", "sys"]:
        for dependencies in ["imported", "none", "sys", "pkg"]:
            settings = Settings(SETTINGS.to_dict())
            settings.DISCOVER_SOURCES, settings.DISCOVER_DEPENDENCIES = sources, dependencies
            main, found, packages = deps.gather_sources_and_dependencies(
                globals(), None, False, settings)
            results[sources + "/" + dependencies] = {
                "main": main,
                "sources": [path for path, _ in deps.sources_json(found, sys.argv[1])],
                "dependencies": deps.dependencies_json(packages),
            }
    results["versions"] = {"numpy": numpy.__version__, "yaml": yaml.__version__}
    print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def project_results(tmp_path_factory):
    """Run a main script of a small project tree in a fresh interpreter and gather everything."""
    root = tmp_path_factory.mktemp("project")
    write(root / "main.py", MAIN)
    write(root / "helper.py", "VALUE = 1\n")
    write(root / "pkg" / "__init__.py")
    write(root / "pkg" / "sub" / "__init__.py")
    write(root / "pkg" / "sub" / "mod.py", "def func():\n    return 1\n")
    write(root / "unused.py", "never imported\n")
    write(root / "data" / "notimported.py")
    write(root / ".hidden" / "skipped.py")
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.run(
        [sys.executable, "main.py", str(root)], cwd=root, capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return root, json.loads(proc.stdout)


IMPORTED_SOURCES = ["helper.py", "main.py", "pkg/__init__.py", "pkg/sub/__init__.py", "pkg/sub/mod.py"]


def test_imported_sources_are_the_main_file_and_local_modules(project_results):
    root, results = project_results
    result = results["imported/imported"]
    assert result["main"] == os.path.realpath(root / "main.py")
    assert result["sources"] == [p.replace("/", os.sep) for p in IMPORTED_SOURCES]


def test_imported_dependencies_have_versions(project_results):
    _, results = project_results
    versions = results["versions"]
    dependencies = results["imported/imported"]["dependencies"]
    assert f"numpy=={versions['numpy']}" in dependencies
    assert f"PyYAML=={versions['yaml']}" in dependencies  # import name yaml, distribution PyYAML
    assert any(d.startswith("experimentkit==") for d in dependencies)  # like sacred lists itself
    assert not any(d.split("==")[0] in ("json", "sys", "helper", "pkg") for d in dependencies)
    assert dependencies == sorted(dependencies, key=str.lower)


def test_other_source_strategies(project_results):
    _, results = project_results
    assert results["none/imported"]["sources"] == ["main.py"]
    in_dir = results["dir/imported"]["sources"]
    assert set(in_dir) == {
        p.replace("/", os.sep) for p in IMPORTED_SOURCES + ["unused.py", "data/notimported.py"]
    }
    assert set(results["sys/imported"]["sources"]) >= set(results["imported/imported"]["sources"])


def test_other_dependency_strategies(project_results):
    _, results = project_results
    versions = results["versions"]
    assert results["imported/none"]["dependencies"] == [f"numpy=={versions['numpy']}"]
    assert set(results["imported/sys"]["dependencies"]) >= set(results["imported/imported"]["dependencies"])
    everything = results["imported/pkg"]["dependencies"]
    assert any(d.startswith("pytest==") for d in everything)  # installed, never imported
    assert any(d.startswith("hypothesis==") for d in everything)


LATE = """
    import json
    import sys

    from experimentkit import Experiment
    from experimentkit.settings import SETTINGS

    ex = Experiment("late")
    import helper  # imported after the experiment was built

    @ex.main
    def main():
        return helper.VALUE

    def recorded():
        info = ex.run(options={"--loglevel": "ERROR"}).experiment_info
        return {"sources": dict(info["sources"]), "dependencies": info["dependencies"]}

    first = recorded()
    with open("helper.py", "a") as f:
        f.write("# edited between two runs\\n")
    second = recorded()
    SETTINGS.DISCOVER_SOURCES = "none"  # changed after the experiment was built
    third = recorded()
    print(json.dumps([first, second, third]))
"""


def test_a_run_records_the_sources_of_its_own_start(tmp_path):
    """A module imported after ``Experiment()``, a source edited between two runs and a setting
    changed after the experiment was built are all seen by the next run."""
    write(tmp_path / "main.py", LATE)
    write(tmp_path / "helper.py", "VALUE = 1\n")
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.run(
        [sys.executable, "main.py"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    first, second, third = json.loads(proc.stdout)
    assert sorted(first["sources"]) == ["helper.py", "main.py"]
    assert first["sources"]["helper.py"] != second["sources"]["helper.py"]
    assert second["sources"]["helper.py"] == get_digest(str(tmp_path / "helper.py"))
    assert second["sources"]["main.py"] == first["sources"]["main.py"]
    assert list(third["sources"]) == ["main.py"]
    assert any(d.startswith("experimentkit==") for d in first["dependencies"])
    assert first["dependencies"] == second["dependencies"] == third["dependencies"]


def test_no_main_file_uses_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    main, sources, _ = gather_sources_and_dependencies({"__name__": "__main__"}, None, False)
    assert main is None and sources == set()


def test_unknown_strategy_is_a_setting_error():
    settings = Settings(SETTINGS.to_dict())
    settings.DISCOVER_SOURCES = "everything"
    with pytest.raises(SettingError, match="Unknown DISCOVER_SOURCES strategy 'everything'"):
        gather_sources_and_dependencies({}, None, False, settings)


# -------------------------------------------------------------------------------------------- git


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    write(root / "train.py", "print(1)\n")
    write(root / "lib" / "util.py", "X = 1\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()
    return root, sha


def test_git_info_of_a_clean_repository(repo):
    root, sha = repo
    url, commit, dirty = get_git_info(str(root / "lib" / "util.py"))
    assert url == "git:/" + str(root.resolve())
    assert (commit, dirty) == (sha, False)


def test_git_info_uses_the_remote_url(repo):
    root, sha = repo
    git(root, "remote", "add", "upstream", "https://example.invalid/other.git")
    git(root, "remote", "add", "origin", "https://example.invalid/exp.git")
    assert get_git_info(str(root)) == ("https://example.invalid/exp.git", sha, False)


def test_git_info_of_a_dirty_repository(repo):
    root, sha = repo
    write(root / "untracked.py", "")  # untracked files do not make it dirty
    assert get_git_info(str(root / "train.py"))[2] is False
    write(root / "train.py", "print(2)\n")
    assert get_git_info(str(root / "train.py")) == ("git:/" + str(root.resolve()), sha, True)


def test_git_info_outside_a_repository_and_in_an_empty_one(tmp_path):
    outside = write(tmp_path / "plain" / "x.py")
    assert get_git_info(str(outside)) is None
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    url, commit, dirty = get_git_info(str(empty))
    assert commit is None and url.endswith("empty")


def test_sources_carry_git_state_and_repositories_are_collected(repo):
    root, sha = repo
    globs = {"__file__": str(root / "train.py")}
    main, sources, _ = gather_sources_and_dependencies(globs, None, True)
    assert main == os.path.realpath(root / "train.py")
    extra = Source.create(str(root / "lib" / "util.py"))
    assert (extra.repo, extra.commit, extra.is_dirty) == ("git:/" + str(root.resolve()), sha, False)
    outside = Source("elsewhere.py", "0" * 32)
    assert repositories_json(sources | {extra, outside}) == [
        {"url": "git:/" + str(root.resolve()), "commit": sha, "dirty": False}
    ]
    assert sources_json(sources | {extra}, str(root)) == [
        (os.path.join("lib", "util.py"), extra.digest),
        ("train.py", get_digest(main)),
    ]


def test_missing_git_executable_is_reported(repo, monkeypatch):
    root, _ = repo
    monkeypatch.setenv("PATH", "")
    with pytest.raises(GitUnavailableError, match=r"Cannot run the git executable") as info:
        get_git_info(str(root))
    assert isinstance(info.value, ValueError)
    assert Source.create(str(root / "train.py"), save_git_info=False).repo is None


def test_enforce_clean():
    enforce_clean([{"url": "u", "commit": "c", "dirty": False}])
    with pytest.raises(EnforceCleanError, match=r"^No version control detected") as info:
        enforce_clean([])
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, UsageError)
    with pytest.raises(EnforceCleanError) as info:
        enforce_clean(
            [
                {"url": "u1", "commit": "c", "dirty": False},
                {"url": "git@host:exp.git", "commit": "c", "dirty": True},
            ]
        )
    assert str(info.value) == ('EnforceClean: Uncommited changes in the "git@host:exp.git" repository.')


# ------------------------------------------------------------------ versions read from dist-info

VERSIONS_MAIN = """
    import json
    import sys

    import moon_pkg
    from experimentkit import dependencies as deps

    # only moon_pkg: experimentkit itself may sit in a checkout holding an experimentkit.egg-info
    # (left by `pip install -e`), which is rightly left to importlib.metadata
    scope = {"moon_pkg": moon_pkg, "json": json, "__file__": __file__}
    _, _, packages = deps.gather_sources_and_dependencies(scope, None, False)
    print(json.dumps({"dependencies": deps.dependencies_json(packages),
                      "metadata_imported": "importlib.metadata" in sys.modules}))
"""


def _dist_info(site, directory, name, version):
    write(site / directory / "METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nBody\n")


def test_versions_come_from_the_first_dist_info_on_the_path_without_importlib_metadata(tmp_path):
    """The distribution's own spelling of its name and the first entry on sys.path win, as with
    ``importlib.metadata.distribution``, and that module (and ``email``) is not imported."""
    first, second = tmp_path / "first", tmp_path / "second"
    write(first / "moon_pkg.py", "")
    _dist_info(first, "Moon.Pkg-2.0.dist-info", "Moon.Pkg", "2.0")
    _dist_info(second, "moon_pkg-1.0.dist-info", "moon_pkg", "1.0")
    write(tmp_path / "main.py", VERSIONS_MAIN)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(first), str(second), REPO]))
    proc = subprocess.run(
        [sys.executable, "main.py"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert "Moon.Pkg==2.0" in result["dependencies"]
    assert not any(d.startswith("moon_pkg==") for d in result["dependencies"])
    assert result["metadata_imported"] is False


def test_an_egg_info_first_on_the_path_is_left_to_importlib_metadata(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    write(first / "moon_pkg.py", "")
    write(first / "moon_pkg.egg-info" / "PKG-INFO", "Metadata-Version: 1.1\nName: moon-pkg\nVersion: 3.0\n")
    _dist_info(second, "moon_pkg-1.0.dist-info", "moon_pkg", "1.0")
    write(tmp_path / "main.py", VERSIONS_MAIN)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(first), str(second), REPO]))
    proc = subprocess.run(
        [sys.executable, "main.py"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "moon-pkg==3.0" in json.loads(proc.stdout)["dependencies"]


EVERY_DISTRIBUTION_MAIN = """
import json
from importlib import metadata

from experimentkit.dependencies import _dist_info_version

direct, wrong = 0, []
for dist in metadata.distributions():
    name = dist.metadata["Name"]
    for spelling in {name, name.lower(), name.replace("-", "_"), name.replace("_", "-")}:
        found = _dist_info_version(spelling)
        if found is not None:
            direct += 1
            first = metadata.distribution(spelling)
            if found != (first.metadata["Name"], first.metadata["Version"]):
                wrong.append([spelling, found, first.metadata["Version"]])
print(json.dumps({"direct": direct, "wrong": wrong}))
"""


def test_every_installed_distribution_reads_as_importlib_metadata_reads_it():
    """In a fresh interpreter (the import hooks other tests leave in this one would turn the fast
    path off), every distribution of this environment reads as importlib.metadata reads it."""
    proc = subprocess.run(
        [sys.executable, "-c", EVERY_DISTRIBUTION_MAIN], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["wrong"] == []
    assert result["direct"] > 10  # the fast path is the one taken here
