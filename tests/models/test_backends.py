"""Backends behind the one model interface: choice, size buckets, agreement with PyTorch fp32, the graph cache.

OpenVINO / NNCF tests skip cleanly when those optional packages are absent, bf16 tests on CPUs without native bf16.
The one graph of a Depth Anything model is checked at several input sizes other than the one it was traced at, and
batch sizes, which catches exports with a frozen shape.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from depthforge.core.errors import DepthforgeError, ModelError, ValidationError
from depthforge.models import REGISTRY, clear_model_cache, load_model, resolve_model
from depthforge.models.buckets import bucket_for, bucket_shapes
from depthforge.models.estimator import choose_backend
from depthforge.models.graph_cache import fingerprint, graph_dir, mean_abs_rel, read_manifest
from depthforge.models.openvino_export import cpu_supports_bf16, trace_size
from depthforge.models.preprocess import model_input_size

# mean |ours - torch fp32| / mean |torch fp32| each backend/dtype promises (int8 is measured and reported; the
# bound here only says "not broken": a tiny random model is far more sensitive to quantisation than a trained one)
STATED = {"fp32": 1e-4, "int8": 0.5, "bf16": 0.02}


@pytest.fixture()
def graph_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private graph cache folder, and no in-process model left over from other tests."""
    monkeypatch.setenv("DEPTHFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("DEPTHFORGE_BACKEND", raising=False)
    clear_model_cache()
    yield tmp_path / "cache"
    clear_model_cache()


def _images() -> list[np.ndarray]:
    """Landscape 4:3, portrait 2:3 and an odd aspect (its own bucket): three different graphs."""
    from skimage import data

    coffee = data.coffee()  # 400x600
    return [
        np.ascontiguousarray(data.astronaut()[:384]),  # 384x512 (4:3)
        np.ascontiguousarray(np.rot90(coffee)),  # 600x400 (2:3)
        np.ascontiguousarray(coffee[:, :170]),  # 400x170, beyond every bucket
    ]


@pytest.mark.parametrize("name", ["depth-anything-v2-small", "dpt-hybrid", "zoedepth-nyu-kitti"])
def test_buckets_stay_within_one_multiple_of_the_size_rule(name: str) -> None:
    spec = REGISTRY[name]
    shapes = bucket_shapes(spec)
    assert 1 <= len(shapes) <= 2 * 7
    for h in range(200, 4001, 173):
        for w in range(200, 4001, 211):
            rule = model_input_size((h, w), spec)
            b = bucket_for((h, w), spec)
            assert abs(b[0] - rule[0]) <= spec.multiple and abs(b[1] - rule[1]) <= spec.multiple
            assert b[0] % spec.multiple == 0 and b[1] % spec.multiple == 0
    # common photo aspects run at exactly the rule's shape
    for h, w in ((768, 1024), (3000, 4000), (1080, 1920), (4000, 6000), (1024, 768), (512, 512)):
        assert bucket_for((h, w), spec) == model_input_size((h, w), spec)


def test_bf16_on_pytorch_is_said(
    tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """User trial 6: ``--fast`` said "bf16 on OpenVINO" while a small model ran bf16 on PyTorch, unmeasured."""
    monkeypatch.delenv("DEPTHFORGE_BACKEND", raising=False)
    with caplog.at_level("INFO", logger="depthforge"):
        est = load_model(str(tiny_models["depth_anything"]), device="cpu", dtype="bf16")
    assert est.backend_name.startswith("torch")
    assert "bf16 runs on PyTorch (the model is too small" in caplog.text and "not measured" in caplog.text


def test_fp16_on_a_cpu_without_fp16_is_said(
    tiny_models: dict[str, Path], graph_cache: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """User trial 6: ``--backend openvino --dtype fp16`` gave bf16's very bytes on a CPU without native fp16."""
    pytest.importorskip("openvino")
    from depthforge.models import openvino_backend

    monkeypatch.setattr(openvino_backend, "cpu_supports_fp16", lambda: False)
    monkeypatch.setattr(openvino_backend, "cpu_supports_bf16", lambda: True)
    with caplog.at_level("INFO", logger="depthforge"):
        load_model(str(tiny_models["depth_anything"]), backend="openvino", dtype="fp16")
    assert "fp16: this CPU has no native fp16 (AVX512-FP16 or AMX-FP16); OpenVINO runs the graph in bf16" in caplog.text


def test_auto_backend_choice(tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEPTHFORGE_BACKEND", raising=False)
    tiny = resolve_model(str(tiny_models["depth_anything"]))
    assert choose_backend(tiny) == "torch"  # a tiny model: exporting costs more than it saves
    assert choose_backend(resolve_model(str(tiny_models["zoedepth"]))) == "torch"
    assert choose_backend(tiny, dtype="bf16") == "torch"
    big = resolve_model("depth-anything-v2-small")
    try:
        import openvino  # noqa: F401

        expected = "openvino"
    except ImportError:
        expected = "torch"
    import torch

    if not torch.cuda.is_available():
        assert choose_backend(big) == expected
    assert choose_backend(big, device="cuda") == "torch"
    monkeypatch.setenv("DEPTHFORGE_BACKEND", "torch")
    assert choose_backend(big) == "torch"
    monkeypatch.setenv("DEPTHFORGE_BACKEND", "tensorrt")
    with pytest.raises(ValidationError, match="DEPTHFORGE_BACKEND"):
        choose_backend(big)


def test_missing_optional_backend_is_a_clear_error(
    tiny_models: dict[str, Path], graph_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # import fails as if not installed
    with pytest.raises(ModelError, match="pip install openvino"):
        load_model(str(tiny_models["depth_anything"]), backend="openvino")
    with pytest.raises(ValidationError, match="int8"):
        load_model(str(tiny_models["depth_anything"]), backend="torch", quantize="int8")
    with pytest.raises(ValidationError, match="backend"):
        load_model(str(tiny_models["depth_anything"]), backend="tensorrt")


def test_cli_model_options_pass_through() -> None:
    from depthforge.cli.common import add_model_options, model_options

    ap = argparse.ArgumentParser()
    add_model_options(ap)
    args = ap.parse_args(["--backend", "openvino", "--quantize", "int8", "--dtype", "fp32"])
    assert model_options(args) == {"device": "auto", "dtype": "fp32", "backend": "openvino", "quantize": "int8"}
    assert model_options(ap.parse_args([]))["quantize"] is None
    with pytest.raises(SystemExit):
        ap.parse_args(["--backend", "tensorrt"])


def test_openvino_fp32_matches_torch_at_several_sizes(tiny_models: dict[str, Path], graph_cache: Path) -> None:
    pytest.importorskip("openvino")
    # the metric variant: the tiny relative model's random head outputs almost only zeros (mean ~1e-9)
    folder = str(tiny_models["depth_anything_metric"])
    ref = load_model(folder, backend="torch", device="cpu", dtype="fp32")
    ov = load_model(folder, backend="openvino", device="cpu")
    assert ov.backend.name == "openvino" and not ov.backend.static_shapes  # one graph of any size
    images = _images()
    sizes = {ov.input_size(im.shape[:2]) for im in images}
    assert len(sizes) == len(images)  # three different input sizes
    assert trace_size(ov.spec) not in sizes  # none of them the size the graph was traced at
    assert ov.backend.wait_for_export(*next(iter(sizes)))
    ours = ov.predict_batch([*images, images[0][:, ::-1].copy()])  # the flipped copy shares a bucket: batch of 2
    for im, d in zip([*images, images[0][:, ::-1].copy()], ours, strict=True):
        size = ov.input_size(im.shape[:2])
        r = ref._resize_back(ref.backend.forward(ref_input(ref, im, size))[0][0], im.shape[:2])
        assert d.shape == im.shape[:2]
        dev = mean_abs_rel(d.values, r)
        assert dev <= STATED["fp32"], (size, dev)
    assert ov.deviation is not None and ov.deviation <= STATED["fp32"]
    # the throughput mode (parallel inference requests on a THROUGHPUT-hint graph) gives the same outputs
    pair = [ov.prepare(images[0]), ov.prepare(images[0][:, ::-1].copy())]
    for a, b in zip(ov.predict_prepared(pair, throughput=True), ours[0::3], strict=True):
        assert mean_abs_rel(a.values, b.values) <= 1e-5
    # the stream (requests kept in flight across images, sizes changing, skipped photos passing through in
    # their place) gives each photo its own depth, in input order, on both backends
    seq = [images[0], None, images[1], images[1][::-1].copy(), None, images[0][:, ::-1].copy(), images[2]]
    feed = [(i, None if im is None else ov.prepare(im)) for i, im in enumerate(seq)]
    for est in (ov, ref):
        got = list(est.predict_stream(iter(feed), batch_size=2))
        assert [tag for tag, _ in got] == list(range(len(seq)))
        for (_, d), im in zip(got, seq, strict=True):
            if im is None:
                assert d is None
                continue
            assert d is not None and d.shape == im.shape[:2]
            alone = ov.predict(im).values
            assert mean_abs_rel(d.values, alone) <= (1e-5 if est is ov else STATED["fp32"])
    # the graph was verified against PyTorch when built, at two sizes other than the traced one, and that is on record
    manifest = json.loads((graph_dir(ov.source, "openvino", "fp32", None) / "manifest.json").read_text())
    assert manifest["dynamic"] and manifest["max_rel_error"] < 1e-3
    assert len(manifest["verified_sizes"]) == 2 and manifest["trace_size"] not in manifest["verified_sizes"]


def ref_input(est: object, image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from depthforge.models.preprocess import prepare

    return prepare(image, est.spec, size_hw=size)[None]  # type: ignore[attr-defined]


def test_openvino_dpt_hybrid_matches_torch(tiny_models: dict[str, Path], graph_cache: Path) -> None:
    pytest.importorskip("openvino")
    folder = str(tiny_models["dpt_hybrid"])
    image = _images()[1]
    ref = load_model(folder, backend="torch", device="cpu").predict(image).values
    est = load_model(folder, backend="openvino", device="cpu")
    size = est.input_size(image.shape[:2])
    assert est.backend.static_shapes and est.backend.wait_for_export(*size)  # DPT: one static graph, its one size
    ours = est.predict(image).values
    assert mean_abs_rel(ours, ref) <= STATED["fp32"]
    assert graph_dir(est.source, "openvino", "fp32", size).is_dir()


def test_graph_cache_reuse_and_stale_rebuild(
    tiny_models: dict[str, Path], graph_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("openvino")
    from depthforge.models import openvino_backend

    folder = tiny_models["depth_anything"]
    image = _images()[0]
    est = load_model(str(folder), backend="openvino")
    size = est.input_size(image.shape[:2])
    est.backend.wait_for_export(*size)
    first = est.predict(image).values
    clear_model_cache()

    def no_export(*args: object, **kwargs: object) -> None:
        raise AssertionError("a current cached graph must not be exported again")

    monkeypatch.setattr(openvino_backend, "export_graph", no_export)
    again_est = load_model(str(folder), backend="openvino")
    assert again_est.backend.ready(*size)
    np.testing.assert_array_equal(first, again_est.predict(image).values)
    # a changed model file makes the cached graph stale: it is rebuilt (and verified) on next use
    source = resolve_model(str(folder))
    gdir = graph_dir(source, "openvino", "fp32", None)
    manifest = json.loads((gdir / "manifest.json").read_text())
    # user trial 6: a graph file changed since the build (truncated) is stale; one damaged in place cannot be
    # used and the message names the folder (one line, no internal error)
    binf, xml = gdir / "model.bin", gdir / "model.xml"
    stamps = {f: f.stat() for f in (binf, xml)}
    data, text = binf.read_bytes(), xml.read_bytes()
    binf.write_bytes(data[: len(data) // 2])
    assert read_manifest(gdir, manifest["fingerprint"], ("model.xml",)) is None
    binf.write_bytes(data)
    xml.write_bytes(b"<" * len(text))
    for f, st0 in stamps.items():
        os.utime(f, ns=(st0.st_atime_ns, st0.st_mtime_ns))
    assert read_manifest(gdir, manifest["fingerprint"], ("model.xml",)) is not None
    clear_model_cache()
    with pytest.raises(ModelError, match="cached OpenVINO graph in .* cannot be used .*delete that folder"):
        load_model(str(folder), backend="openvino").predict(image)
    xml.write_bytes(text)
    os.utime(xml, ns=(stamps[xml].st_atime_ns, stamps[xml].st_mtime_ns))
    weights = next(f for f in Path(folder).iterdir() if f.suffix == ".safetensors")
    st = weights.stat()
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000_000))
    try:
        assert read_manifest(gdir, manifest["fingerprint"], ("model.xml",)) is not None
        assert fingerprint(source, {}) != fingerprint(resolve_model(str(tiny_models["dpt"])), {})
        clear_model_cache()
        stale = load_model(str(folder), backend="openvino")
        assert not stale.backend.ready(*size)
        with pytest.raises(ModelError, match="exported again"):
            stale.backend.wait_for_export(*size)
    finally:
        os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_graph_that_failed_its_verification_is_not_exported_again(
    tiny_models: dict[str, Path], graph_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """User trial 6: every run exported the same failing graph again (about 10 s each for a tiny model, minutes for
    a real one). The failure is recorded beside the graph's folder for the same model, versions and variant."""
    pytest.importorskip("openvino")
    from depthforge.models import openvino_backend, openvino_export

    monkeypatch.setitem(openvino_export.TOLERANCE, "fp32", -1.0)  # any deviation fails the verification
    folder = str(tiny_models["depth_anything"])
    est = load_model(folder, backend="openvino")
    size = est.input_size(_images()[0].shape[:2])
    with pytest.raises(ModelError, match="differs from PyTorch fp32"):
        est.backend.wait_for_export(*size)
    clear_model_cache()

    def no_export(*args: object, **kwargs: object) -> None:
        raise AssertionError("a graph that failed its verification must not be exported again")

    monkeypatch.setattr(openvino_backend, "export_graph", no_export)
    again = load_model(folder, backend="openvino")
    with pytest.raises(ModelError, match=r"differs from PyTorch fp32 .*an earlier run's; delete .*failed\.json"):
        again.backend.wait_for_export(*size)
    np.testing.assert_array_equal(again.predict(_images()[0]).values, est.predict(_images()[0]).values)  # PyTorch


def test_openvino_refuses_unsupported_families(tiny_models: dict[str, Path], graph_cache: Path) -> None:
    pytest.importorskip("openvino")
    with pytest.raises(DepthforgeError, match="--backend torch"):
        load_model(str(tiny_models["zoedepth"]), backend="openvino")
    with pytest.raises(ValidationError, match="device"):
        load_model(str(tiny_models["depth_anything"]), backend="openvino", device="cuda")


def test_int8_fast_mode_deviation_is_measured_and_reported(tiny_models: dict[str, Path], graph_cache: Path) -> None:
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    folder = str(tiny_models["depth_anything_metric"])
    image = _images()[0]
    ref = load_model(folder, backend="torch", device="cpu").predict(image).values
    fast = load_model(folder, quantize="int8")
    assert fast.backend_name == "openvino-int8" and "int8" in repr(fast)
    fast.backend.wait_for_export(*fast.input_size(image.shape[:2]))
    ours = fast.predict(image).values
    dev = mean_abs_rel(ours, ref)
    assert fast.deviation is not None and dev <= STATED["int8"]
    # the deviation the backend reports (on its probe photos) is of the same order as the one seen here
    assert 0.2 * dev <= fast.deviation <= 5 * dev + 1e-3
    assert np.abs(ours - ref).max() > 0  # really quantised


@pytest.fixture(scope="module")
def lively_da(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Depth Anything (metric) whose output varies over the image like a trained model's: reduced precision
    shows in it (the default tiny models give an almost constant output)."""
    from depthforge.models.testing import build_depth_anything

    return build_depth_anything(tmp_path_factory.mktemp("lively") / "da", metric=True, lively=True)


def test_openvino_one_export_for_every_size_and_pytorch_meanwhile(
    lively_da: Path, graph_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("openvino")
    from depthforge.models import openvino_backend

    exports: list[object] = []
    real_export = openvino_backend.export_graph

    def counted(*args: object, **kwargs: object) -> object:
        exports.append(kwargs.get("size_hw"))
        return real_export(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(openvino_backend, "export_graph", counted)
    ref = load_model(str(lively_da), backend="torch", device="cpu")
    est = load_model(str(lively_da), backend="openvino", device="cpu")
    images = _images()
    size = est.input_size(images[0].shape[:2])
    assert not est.backend.ready(*size)
    # the first image is answered by PyTorch (exactly the reference), the export put off (the process may end
    # here: it then exports at exit); a second image starts the export in the background, PyTorch answering
    np.testing.assert_array_equal(est.predict(images[0]).values, ref.predict(images[0]).values)
    assert est.deviation is None and not est.backend._exports  # type: ignore[attr-defined]
    flipped = np.ascontiguousarray(images[0][:, ::-1])
    np.testing.assert_array_equal(est.predict(flipped).values, ref.predict(flipped).values)
    assert est.backend._exports  # type: ignore[attr-defined]
    assert est.backend.wait_for_export(*size)
    assert exports == [None]  # one export, of the graph of every size
    for im in [*images, images[0]]:
        ours, r = est.predict(im).values, ref.predict(im).values
        assert mean_abs_rel(ours, r) <= STATED["fp32"], est.input_size(im.shape[:2])
        assert float(np.std(r)) > 0.1 * float(np.mean(np.abs(r)))  # a varying output: the comparison means something
    assert exports == [None]  # three sizes, no further export
    # the first image of a size runs on the graph of free dimensions; a size seen twice gets its own compilation,
    # remembered on disk so that later processes compile it at once (from OpenVINO's blob cache)
    compiled = est.backend._compiled  # type: ignore[attr-defined]
    assert ("any", "LATENCY") in compiled and (*size, "LATENCY") in compiled
    assert (graph_dir(est.source, "openvino", "fp32", None) / "sizes" / f"latency-{size[0]}x{size[1]}").exists()
    assert est.backend.compiled(*size, static=False) is compiled[("any", "LATENCY")]


def test_openvino_keeps_a_bounded_number_of_compiled_graphs(
    lively_da: Path, graph_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every compiled graph holds its own weights and the activations of the largest input it ran, so a process
    # that meets many input sizes (a server, a folder of mixed photos) keeps only the most recently used ones: at
    # most _KEEP_GRAPHS, and while their inputs add up to at most _KEEP_PIXELS (the newest is always kept); a size
    # whose graph was dropped is compiled again and gives the same output
    pytest.importorskip("openvino")
    from depthforge.models import openvino_run

    est = load_model(str(lively_da), backend="openvino", device="cpu")
    backend = est.backend
    rng = np.random.default_rng(0)
    sizes = [(70, 70 + 14 * i) for i in range(7)]
    inputs = {hw: rng.standard_normal((1, 3, *hw)).astype(np.float32) for hw in sizes}
    assert backend.wait_for_export(*sizes[0])
    first = {hw: backend.forward(inputs[hw])[0] for hw in sizes for _ in range(2)}  # twice: fixed-shape graphs
    compiled = backend._compiled  # type: ignore[attr-defined]
    assert len(compiled) == openvino_run._KEEP_GRAPHS
    assert list(compiled)[-1] == (*sizes[-1], "LATENCY")  # the most recent size is kept, the oldest went
    assert (*sizes[0], "LATENCY") not in compiled
    for hw in sizes:  # dropped graphs are compiled again: the same outputs
        np.testing.assert_array_equal(backend.forward(inputs[hw])[0], first[hw])
        assert len(compiled) <= openvino_run._KEEP_GRAPHS
    assert float(np.std(first[sizes[0]])) > 0  # a varying output: the comparison means something
    # the pixel budget: two of these sizes fit, a third does not
    monkeypatch.setattr(openvino_run, "_KEEP_PIXELS", 2 * 70 * 154 + 1)
    for hw in sizes[-3:]:
        backend.forward(inputs[hw])
        pixels = backend._pixels  # type: ignore[attr-defined]
        assert list(compiled)[-1] == (*hw, "LATENCY")
        assert sum(pixels[k] for k in compiled) <= openvino_run._KEEP_PIXELS and set(pixels) == set(compiled)
    assert len(compiled) == 2
    monkeypatch.setattr(openvino_run, "_KEEP_PIXELS", 1)  # even one graph is over: the newest is still kept
    backend.forward(inputs[sizes[0]])
    assert list(compiled) == [(*sizes[0], "LATENCY")]


def test_bf16_fast_path_deviation_is_measured_and_reported(lively_da: Path, graph_cache: Path) -> None:
    pytest.importorskip("openvino")
    if not cpu_supports_bf16():
        pytest.skip("this CPU has no native bf16 (AVX512-BF16 or AMX)")
    image = _images()[1]
    ref = load_model(str(lively_da), backend="torch", device="cpu").predict(image).values
    fast = load_model(str(lively_da), device="cpu", dtype="bf16", backend="openvino")
    assert "dtype=bf16" in repr(fast)
    fast.backend.wait_for_export(*fast.input_size(image.shape[:2]))
    ours = fast.predict(image).values
    dev = mean_abs_rel(ours, ref)
    assert 1e-4 < dev <= STATED["bf16"]  # really reduced precision, and close to fp32
    assert fast.deviation is not None and 0.2 * dev <= fast.deviation <= 5 * dev
    manifest = json.loads((graph_dir(fast.source, "openvino", "bf16", None) / "manifest.json").read_text())
    assert manifest["variant"] == "bf16" and manifest["mean_abs_rel"] == pytest.approx(fast.deviation)


def test_bf16_needs_native_bf16_and_fast_picks_bf16_or_int8(
    tiny_models: dict[str, Path], graph_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("openvino")
    from depthforge.cli.common import add_model_options, model_options
    from depthforge.models import openvino_backend, openvino_export

    monkeypatch.setattr(openvino_backend, "cpu_supports_bf16", lambda: False)
    with pytest.raises(ValidationError, match="AVX512-BF16 or AMX"):
        load_model(str(tiny_models["depth_anything"]), backend="openvino", dtype="bf16")
    ap = argparse.ArgumentParser()
    add_model_options(ap)
    for native, expected in ((True, {"dtype": "bf16", "quantize": None}), (False, {"quantize": "int8"})):
        monkeypatch.setattr(openvino_export, "cpu_supports_bf16", lambda native=native: native)
        options = model_options(ap.parse_args(["--fast"]))
        assert options | expected == options
    for clash in (["--dtype", "fp32"], ["--quantize", "int8"], ["--backend", "torch"], ["--device", "cuda"]):
        with pytest.raises(ValidationError, match="fast"):
            model_options(ap.parse_args(["--fast", *clash]))


def test_first_run_answers_then_exports_at_exit(tiny_models: dict[str, Path], photos: Path, tmp_path: Path) -> None:
    """A one-photo command with no graph yet: the depth file comes from PyTorch, then the process exports (with
    progress on stderr) before it ends, so the next run of any size uses OpenVINO."""
    pytest.importorskip("openvino")
    import subprocess

    env = dict(os.environ, DEPTHFORGE_CACHE=str(tmp_path / "cache"), HF_HUB_OFFLINE="1")
    model = str(tiny_models["depth_anything_metric"])
    cmd = [sys.executable, "-m", "depthforge", "estimate", str(photos / "chelsea.png"), "-o", str(tmp_path / "out")]
    run = subprocess.run([*cmd, "--model", model, "--backend", "openvino"], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out" / "chelsea_depth.png").is_file()
    lines = run.stderr.splitlines()
    assert any("exporting" in line and "once" in line for line in lines), lines
    assert any(": ready, verified" in line for line in lines), lines
    assert all(line.startswith("depthforge: ") for line in lines), lines
    (gdir,) = (tmp_path / "cache" / "graphs").glob("*/openvino-fp32-any")
    assert json.loads((gdir / "manifest.json").read_text())["dynamic"]
    again = subprocess.run(
        [*cmd, "--model", model, "--backend", "openvino", "--overwrite"], env=env, capture_output=True, text=True
    )
    assert again.returncode == 0 and "exporting" not in again.stderr, again.stderr
