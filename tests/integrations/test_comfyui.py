"""The ComfyUI node pack, loaded the way ComfyUI loads a custom node (importlib on the folder), without ComfyUI.

Every node runs on ``torch.rand`` batches with a tiny local model; outputs must meet ComfyUI's contracts: IMAGE is
float32 ``(B, H, W, 3)`` in [0, 1], MASK float32 ``(B, H, W)`` in [0, 1].
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from depthforge.integrations.comfyui import convert  # noqa: E402

FOLDER = Path(__file__).parents[2] / "src/depthforge/integrations/comfyui/custom_node"
B, H, W = 3, 48, 64


def load_like_comfy(folder: Path) -> Any:
    """What ComfyUI's nodes.load_custom_node does for a folder: a module named after its path, from __init__.py."""
    name = str(folder).replace(".", "_x_")
    spec = importlib.util.spec_from_file_location(name, folder / "__init__.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pack() -> Any:
    return load_like_comfy(FOLDER)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from depthforge.models.testing import build_depth_anything

    return build_depth_anything(tmp_path_factory.mktemp("comfy") / "tiny-da")


@pytest.fixture(scope="module")
def run(pack: Any) -> Any:
    def call(key: str, **kwargs: Any) -> tuple[Any, ...]:
        cls = pack.NODE_CLASS_MAPPINGS[key]
        out = getattr(cls(), cls.FUNCTION)(**kwargs)
        if isinstance(out, dict):  # ComfyUI's form for a node that shows something: {"ui": ..., "result": ...}
            assert getattr(cls, "OUTPUT_NODE", False) and set(out) == {"ui", "result"}, key
            out = out["result"]
        assert isinstance(out, tuple) and len(out) == len(cls.RETURN_TYPES)
        return out

    return call


def check_image(t: Any, b: int, h: int, w: int) -> None:
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32 and tuple(t.shape) == (b, h, w, 3)
    assert float(t.min()) >= 0.0 and float(t.max()) <= 1.0 and bool(torch.isfinite(t).all())


def test_pack_imports_without_comfy(tmp_path: Path) -> None:
    """Loaded as older ComfyUI versions load a pack: the module named after the folder the README copies it to, in
    ``sys.modules`` before it runs (user trial 9: a folder named ``depthforge`` hid the installed package)."""
    import re
    import shutil

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    folder_name = re.search(r"cp -r src/depthforge/integrations/comfyui/custom_node ComfyUI/custom_nodes/(\S+)", readme)
    assert folder_name is not None and folder_name[1] != "depthforge"
    folder = shutil.copytree(FOLDER, tmp_path / "custom_nodes" / folder_name[1])
    code = (
        "import importlib.util, sys\n"
        f"name = {folder.name!r}\n"
        f"spec = importlib.util.spec_from_file_location(name, {str(folder / '__init__.py')!r})\n"
        "m = importlib.util.module_from_spec(spec); sys.modules[name] = m; spec.loader.exec_module(m)\n"
        "import depthforge.core.depthmap\n"
        "assert len(m.NODE_CLASS_MAPPINGS) >= 10\n"
        "print(sorted(k for k in sys.modules if k == 'comfy' or k.startswith('comfy.') or k == 'folder_paths'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_mappings_are_consistent(pack: Any) -> None:
    classes, names = pack.NODE_CLASS_MAPPINGS, pack.NODE_DISPLAY_NAME_MAPPINGS
    assert set(classes) == set(names) and len(classes) == 12
    assert len(set(names.values())) == len(names)
    for key, cls in classes.items():
        assert callable(getattr(cls, cls.FUNCTION)), key
        assert isinstance(cls.RETURN_TYPES, tuple) and cls.CATEGORY == "depthforge"
        if hasattr(cls, "RETURN_NAMES"):
            assert len(cls.RETURN_NAMES) == len(cls.RETURN_TYPES), key


def test_every_default_is_within_its_range(pack: Any) -> None:
    checked = 0
    for key, cls in pack.NODE_CLASS_MAPPINGS.items():
        spec = cls.INPUT_TYPES()
        assert set(spec) <= {"required", "optional"}, key
        for section in spec.values():
            for name, entry in section.items():
                kind, opts = entry[0], entry[1] if len(entry) > 1 else {}
                if isinstance(kind, list):
                    assert opts.get("default", kind[0]) in kind, (key, name)
                elif kind in ("INT", "FLOAT"):
                    assert opts["min"] <= opts["default"] <= opts["max"], (key, name, opts)
                    assert opts["step"] > 0, (key, name)
                checked += 1
    assert checked > 40


def test_every_node_on_random_batches(
    pack: Any, run: Any, tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # outside ComfyUI the output folder is ./output
    torch.manual_seed(0)
    image = torch.rand(B, H, W, 3)
    (model,) = run("DepthforgeLoadModel", model="depth-anything-v2-small", device="comfy", folder=str(tiny))

    shown, depth = run(
        "DepthforgeEstimate", model=model, image=image, normalisation="per-image", detail="off", invert=False
    )
    check_image(shown, B, H, W)
    assert len(depth) == B and depth.kind == "relative"
    for frame in shown:
        assert float(frame.min()) == pytest.approx(0.0, abs=1e-6) and float(frame.max()) == pytest.approx(
            1.0
        )  # each frame uses its own full range
    _, tiled = run("DepthforgeEstimate", model=model, image=image[:1], normalisation="none", detail="4", invert=True)
    assert tiled.maps[0].meta["detail"]["tiles"] == 4

    check_image(
        run("DepthforgeDepthToImage", depth=depth, normalisation="per-batch", invert=True, colormap="inferno")[0],
        B,
        H,
        W,
    )
    own = run("DepthforgeDepthFromImage", depth_image=torch.rand(B, H, W, 3), kind="metric", scale=10.0)[0]
    assert own.kind == "metric" and float(np.nanmax(own.maps[0].values)) <= 10.0

    for layout, width in (("left-right", 2 * W), ("anaglyph-dubois", W)):
        opts = {"layout": layout, "divergence": 3.0, "convergence": 0.0, "separation": 0.0}
        check_image(run("DepthforgeStereo", image=image, depth=depth, **opts)[0], B, H, width)
    check_image(run("DepthforgeNormals", depth=depth, fov_deg=60.0, smooth_px=1.0, convention="opengl")[0], B, H, W)
    blur = {"focus_x": 0.5, "focus_y": 0.5, "aperture_px": 6.0, "blades": 6, "highlight_gain": 2.0}
    check_image(run("DepthforgeBokeh", image=image, depth=depth, **blur)[0], B, H, W)
    for extra in ({}, {"image": image}):
        (mask,) = run("DepthforgeMask", depth=depth, threshold=-1.0, largest=False, **extra)
        assert mask.dtype == torch.float32 and tuple(mask.shape) == (B, H, W)
        assert float(mask.min()) >= 0.0 and float(mask.max()) <= 1.0 and 0 < float(mask.mean()) < 1

    (paths,) = run("DepthforgeSaveDepth", depth=depth, filename_prefix="d/depth", format="png16")
    files = [Path(p) for p in paths.splitlines()]
    assert len(files) == B and all(f.parent == tmp_path / "output" / "d" for f in files)
    shown = pack.NODE_CLASS_MAPPINGS["DepthforgeSaveDepth"]().run(
        depth=depth, filename_prefix="d/depth", format="png16"
    )
    assert shown["ui"]["images"][0] == {"filename": "depth_00004.png", "subfolder": "d", "type": "output"}  # trial 9
    from depthforge.io.depthread import read_depth

    assert read_depth(files[0]).shape == (H, W)
    pytest.importorskip("OpenEXR")
    (exr,) = run("DepthforgeSaveDepth", depth=own, filename_prefix="raw", format="exr")
    back = read_depth(exr.splitlines()[0])
    assert np.allclose(back.values, own.maps[0].values, equal_nan=True)  # raw metres, not a display image
    for bad in (torch.rand(H, W), torch.rand(2, H, W)):  # user trial 9: an IndexError, and one 2 x H map
        with pytest.raises(Exception, match=r"^depth_image: expected an IMAGE batch \(B, H, W, 3\), got shape \("):
            run("DepthforgeDepthFromImage", depth_image=bad, kind="relative", scale=1.0)
    for escape in ("../escape", "/abs/path", ".hidden", "a/../../b", "", ".", "./", "D:x", "a\nb", "ä" * 101, "a//b"):
        with pytest.raises(Exception, match="filename_prefix"):
            run("DepthforgeSaveDepth", depth=depth, filename_prefix=escape, format="png16")
    # ComfyUI's placeholders and any letters (user trial 9: refused as "not a relative name")
    import time

    (dated,) = run("DepthforgeSaveDepth", depth=depth, filename_prefix="%year%/Tiefe_ä_%width%x%height%", format="npy")
    first = Path(dated.splitlines()[0])
    assert first.parent == tmp_path / "output" / time.strftime("%Y") and first.name == f"Tiefe_ä_{W}x{H}_00001.npy"

    (meshes,) = run(
        "DepthforgeMeshExport", image=image[:1], depth=depth, filename_prefix="m", format="glb",
        fov_deg=60.0, near_m=1.0, far_m=10.0, target_vertices=2000,
    )  # fmt: skip
    glbs = [p for p in meshes.splitlines() if p.endswith(".glb")]
    assert len(glbs) == B and Path(glbs[0]).read_bytes()[:4] == b"glTF"  # one image, used for every map
    (reliefs,) = run(
        "DepthforgeReliefExport", image=image[:1], depth=depth, filename_prefix="r", format="stl",
        width_mm=50.0, relief_mm=5.0, base_mm=1.0, resolution_mm=1.0,
    )  # fmt: skip
    import trimesh

    solid = trimesh.load(reliefs.splitlines()[0])
    assert solid.is_watertight and solid.extents[0] == pytest.approx(50.0) and solid.extents[2] == pytest.approx(6.0)
    (clips,) = run(
        "DepthforgeParallaxVideo", image=image[:1], depth=first_map(depth), filename_prefix="p",
        motion="circle", format="gif", duration_s=0.5, fps=8, amplitude=2.0,
    )  # fmt: skip
    assert Path(clips).read_bytes()[:3] == b"GIF"


def test_a_disparity_map_from_an_image_feeds_the_geometry_nodes(run: Any, tmp_path: Path, monkeypatch) -> None:
    # user trial: DepthFromImage(kind=disparity) then Normal map or Export mesh failed asking for --baseline-m, which
    # no node has; without a baseline the map's shape is used, as relative depth (the same as declaring it relative)
    monkeypatch.chdir(tmp_path)
    ramp = torch.linspace(0.2, 1.0, W).repeat(1, H, 1)[..., None].repeat(1, 1, 1, 3)  # (1, H, W, 3)
    normals = {}
    for kind in ("disparity", "relative"):
        (depth,) = run("DepthforgeDepthFromImage", depth_image=ramp, kind=kind, scale=63.75)
        normals[kind] = run("DepthforgeNormals", depth=depth, fov_deg=60.0, smooth_px=0.0, convention="opengl")[0]
        (meshes,) = run(
            "DepthforgeMeshExport", image=ramp, depth=depth, filename_prefix=kind, format="ply",
            fov_deg=60.0, near_m=1.0, far_m=10.0, target_vertices=2000,
        )  # fmt: skip
        assert Path(meshes.splitlines()[0]).read_bytes()[:3] == b"ply"
    assert torch.equal(normals["disparity"], normals["relative"])


def first_map(depth: convert.DepthBatch) -> convert.DepthBatch:
    return convert.DepthBatch(depth.maps[:1])


def test_per_batch_normalisation_uses_one_range() -> None:
    from depthforge.core.depthmap import DepthMap

    ramp = np.linspace(0.0, 1.0, 64, dtype=np.float32).reshape(8, 8)
    batch = convert.DepthBatch((DepthMap(ramp * 2 + 1), DepthMap(ramp + 2)))  # ranges 1..3 and 2..3
    together = convert.depth_to_images(batch, normalisation="per-batch")
    apart = convert.depth_to_images(batch, normalisation="per-image")
    # one range across frames: equal raw values give equal codes in both frames, and only frame 0 reaches black
    assert together[0].min() == pytest.approx(0.0, abs=1e-6) and together[1].min() == pytest.approx(0.5, abs=1e-3)
    assert together[0].max() == pytest.approx(1.0) and together[1].max() == pytest.approx(1.0)
    assert apart[1].min() == pytest.approx(0.0, abs=1e-6)  # per image: every frame stretched to its own range
    image = convert.arrays_to_images(together)
    assert image.dtype == torch.float32 and tuple(image.shape) == (2, 8, 8, 3)


def test_image_contract_round_trip() -> None:
    t = torch.rand(2, 5, 7, 3)
    arrays = convert.images_to_arrays(t)
    assert [a.shape for a in arrays] == [(5, 7, 3)] * 2 and arrays[0].dtype == np.uint8
    back = convert.arrays_to_images(arrays)
    assert float((back - t).abs().max()) <= 0.5 / 255 + 1e-6
    with pytest.raises(Exception, match="image"):
        convert.images_to_arrays(torch.rand(2, 5))
