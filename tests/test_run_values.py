"""What ``log_scalar``/``log_metrics`` store for tensors and arrays, and rich values (images,
figures, texts, dicts) stored as artifacts and listed per step by ``RunRecord.media``."""

import json
import re
import threading

import numpy as np
import pytest

from experimentkit import Experiment
from experimentkit.errors import StoreError
from experimentkit.observers import FileStorageObserver
from experimentkit.query import open_store
from tests.device_support import FakeCudaTensor


def run_experiment(main, observer):
    ex = Experiment("values")
    ex.observers.append(observer)
    ex.main(main)
    return ex.run()


@pytest.fixture(params=["file", "sqlite", "mongomock"])
def backend(request, tmp_path):
    """(observer, open the store) for each backend kind."""
    if request.param == "file":
        path = str(tmp_path / "runs")
        return FileStorageObserver(path), lambda: open_store(path)
    if request.param == "sqlite":
        pytest.importorskip("sqlalchemy")
        from experimentkit.observers import SqlObserver

        url = f"sqlite:///{tmp_path / 'runs.db'}"
        return SqlObserver(url), lambda: open_store(url)
    pytest.importorskip("mongomock")
    import mongomock.gridfs

    from experimentkit.backends.mongo.store import MongoStore
    from experimentkit.observers import MongoObserver

    mongomock.gridfs.enable_gridfs_integration()
    client = mongomock.MongoClient()
    return MongoObserver(client=client), lambda: MongoStore(client=client)


def test_in_place_changes_after_log_scalar_do_not_leak_into_stored_values(tmp_path):
    def main(_run):
        array = np.zeros(())
        scalar = np.float32(0.0)
        for i in range(1, 6):
            array[()] = i  # the same object, changed in place after each call
            _run.log_scalar("array", array)
            _run.log_scalar("scalar", scalar + i)

    observer = FileStorageObserver(str(tmp_path))
    run_experiment(main, observer)
    with open_store(str(tmp_path)) as store:
        run = store.get(1)
        assert run.metric("array").values == [1.0, 2.0, 3.0, 4.0, 5.0]
        assert run.metric("scalar").values == [1.0, 2.0, 3.0, 4.0, 5.0]
        assert all(type(v) is float for v in run.metric("array").values)


@pytest.mark.torch
def test_cpu_tensors_are_stored_with_their_value_at_the_call(tmp_path):
    torch = pytest.importorskip("torch")

    def main(_run):
        loss = torch.zeros((), requires_grad=False)
        weight = torch.nn.Parameter(torch.tensor(0.5))
        for i in range(1, 6):
            loss.add_(1)
            _run.log_scalar("loss", loss)
            _run.log_scalar("weight", weight * i)  # needs grad: no .item() asked of the user
            _run.log_scalar("count", torch.tensor(i, dtype=torch.int64))

    observer = FileStorageObserver(str(tmp_path))
    run_experiment(main, observer)
    with open_store(str(tmp_path)) as store:
        run = store.get(1)
        assert run.metric("loss").values == [1.0, 2.0, 3.0, 4.0, 5.0]
        assert run.metric("weight").values == [0.5, 1.0, 1.5, 2.0, 2.5]
        assert run.metric("count").values == [1, 2, 3, 4, 5]


def test_accelerator_tensors_are_copied_at_the_call_and_not_read_in_the_loop(tmp_path):
    """A stand-in for a CUDA tensor (no GPU here): reading it (``.item()``) would make the training
    loop wait for the device, so ``log_scalar`` queues a copy on the device instead; the copy is
    read after the loop (heartbeat or final flush) and holds the value at the call."""
    reads = []

    def note_read():
        reads.append((threading.get_ident(), state["in_loop"]))

    state = {"in_loop": False}

    def main(_run):
        loss = FakeCudaTensor(0.0, note_read)
        state["in_loop"] = True
        for i in range(1, 6):
            loss.value = float(i)  # the same tensor, changed in place after each call
            _run.log_scalar("loss", loss)
            _run.log_metrics({"twice": FakeCudaTensor(2.0 * i, note_read)}, step=i)
        state["in_loop"] = False
        state["loop_thread"] = threading.get_ident()

    run_experiment(main, FileStorageObserver(str(tmp_path)))
    assert (state["loop_thread"], True) not in reads and len(reads) == 10
    with open_store(str(tmp_path)) as store:
        run = store.get(1)
        assert run.metric("loss").values == [1.0, 2.0, 3.0, 4.0, 5.0]
        assert run.metric("twice").values == [2.0, 4.0, 6.0, 8.0, 10.0]


def test_multi_element_values_fail_at_the_call_with_numpys_message(tmp_path):
    def main(_run):
        _run.log_scalar("bad", np.array([1.0, 2.0]))

    message = r"log_scalar\('bad'\): expected one number, got a ndarray of shape \(2,\)"
    with pytest.raises(ValueError, match=message):
        run_experiment(main, FileStorageObserver(str(tmp_path)))


def test_log_metrics_logs_several_names_at_one_step(tmp_path):
    def main(_run):
        for epoch in range(3):
            _run.log_metrics(
                {"loss": 1.0 / (epoch + 1), "acc": np.float64(0.5 + epoch / 10)}, step=epoch * 100
            )
        _run.log_metrics({"loss": 0.1})  # no step: continues the name's own count

    run_experiment(main, FileStorageObserver(str(tmp_path)))
    with open_store(str(tmp_path)) as store:
        run = store.get(1)
        assert run.metric("loss").steps == [0, 100, 200, 201]
        assert run.metric("acc").steps == [0, 100, 200]
        assert run.metric("acc").values == [0.5, 0.6, 0.7]


def test_rich_values_are_listed_per_step_on_every_backend(backend):
    pytest.importorskip("PIL")
    observer, opener = backend

    def main(_run):
        for step in (0, 10, 20):
            image = np.full((4, 6, 3), step / 20.0)
            _run.log_image("val/samples", image, step=step)
        _run.log_text("generated", "hello world")
        _run.log_text("generated", "second")
        _run.log_dict("confusion", {"matrix": np.eye(2, dtype=int), "labels": ["a", "b"]}, step=3)

    run_experiment(main, observer)
    with opener() as store:
        run = store.runs().first()
        images = run.media("val/samples")
        assert [item["step"] for item in images] == [0, 10, 20]
        assert images[0]["kind"] == "image" and images[0]["metadata"]["shape"] == [4, 6, 3]
        assert images[0]["content_type"] == "image/png"
        from PIL import Image

        with run.open_artifact(images[2]["artifact"]) as f, Image.open(f) as png:
            assert png.size == (6, 4) and png.getpixel((0, 0)) == (255, 255, 255)
        texts = run.media("generated")
        assert [(t["step"], t["kind"]) for t in texts] == [(0, "text"), (1, "text")]
        with run.open_artifact(texts[1]["artifact"]) as f:
            assert f.read() == b"second"
        (confusion,) = run.media("confusion")
        with run.open_artifact(confusion["artifact"]) as f:
            assert json.load(f) == {"labels": ["a", "b"], "matrix": [[1, 0], [0, 1]]}
        assert {item["name"] for item in run.media()} == {"val/samples", "generated", "confusion"}
        with pytest.raises(StoreError, match="no media 'genrated'.*generated"):
            run.media("genrated")


def test_images_from_chw_tensors_pil_and_figures(tmp_path):
    pytest.importorskip("PIL")
    plt = pytest.importorskip("matplotlib.pyplot")
    from PIL import Image

    def main(_run):
        _run.log_image("chw", np.zeros((3, 5, 7), dtype=np.uint8))
        _run.log_image("gray", np.ones((5, 7), dtype=bool))
        _run.log_image("pil", Image.new("RGB", (8, 2), (1, 2, 3)))
        figure, axes = plt.subplots(figsize=(2, 1), dpi=50)
        axes.plot([0, 1], [1, 0])
        _run.log_figure("curve", figure, step=5)
        plt.close(figure)

    run_experiment(main, FileStorageObserver(str(tmp_path)))
    with open_store(str(tmp_path)) as store:
        run = store.get(1)
        assert run.media("chw")[0]["metadata"]["shape"] == [5, 7, 3]
        assert run.media("gray")[0]["metadata"]["shape"] == [5, 7]
        assert run.media("pil")[0]["metadata"]["shape"] == [2, 8, 3]
        (curve,) = run.media("curve")
        assert curve["step"] == 5 and curve["kind"] == "figure"
        assert curve["metadata"]["shape"][:2] == [50, 100]


def test_a_bad_image_shape_is_reported_at_the_call(tmp_path):
    pytest.importorskip("PIL")

    def main(_run):
        _run.log_image("bad", np.zeros((2, 3, 5, 7)))

    with pytest.raises(ValueError, match=r"expected an image of shape .*got \(2, 3, 5, 7\)"):
        run_experiment(main, FileStorageObserver(str(tmp_path)))


def test_the_dashboard_lists_media_per_step_with_escaped_names(tmp_path):
    pytest.importorskip("PIL")
    from experimentkit.dashboard.app import handle

    def main(_run):
        for step in (2, 0, 1):
            _run.log_text("<b>sample</b>", f"text {step}", step=step)
        _run.log_image("val/img", np.zeros((2, 2)), step=7)

    run_experiment(main, FileStorageObserver(str(tmp_path)))
    with open_store(str(tmp_path)) as store:
        status, _, body = handle(store, "GET", "/run/1")
    page = body.decode("utf-8")
    assert status == 200 and "<h2>Media</h2>" in page and "<b>" not in page
    row = page[page.index("<td>&lt;b&gt;sample&lt;.b&gt;</td>") :]  # "/" became "."
    row = row[: row.index("</tr>")]
    assert re.findall(r'">(\d+)</a>', row) == ["0", "1", "2"]
    assert '<td>val.img</td><td><a href="/run/1/artifact/val.img.step7.png">7</a>' in page
