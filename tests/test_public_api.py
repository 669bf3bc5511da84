"""The public API is explicit; this test fails when a public name disappears."""

from __future__ import annotations

import depthforge

PUBLIC = {
    "DepthMap",
    "Intrinsics",
    "DepthforgeError",
    "InputError",
    "ModelError",
    "ModelNotAvailableError",
    "ValidationError",
    "Image",
    "read_image",
    "write_image",
    "read_depth",
    "write_depth",
    "load_model",
    "REGISTRY",
    "estimate",
    "to_display",
    "colorize",
    "fill_holes",
    "guided_filter",
    "fit_scale_shift",
    "align_to_points",
    "evaluate",
    "match_stereo",
    "split_stereo",
    "forward_warp",
    "render_eye",
    "render_stereo",
    "anaglyph",
    "bokeh",
    "depth_mask",
    "cutout",
    "render_view",
    "render_frames",
    "camera_path",
    "mesh_from_depth",
    "pointcloud_from_depth",
    "depth_to_normals",
    "export_mesh",
    "DepthEstimator",
    "probe_video",
    "run_video",
    "run_batch",
}


def test_public_names_exist_and_resolve() -> None:
    missing = PUBLIC - set(depthforge.__all__)
    assert not missing, f"public names removed: {sorted(missing)}"
    for name in depthforge.__all__:
        assert getattr(depthforge, name) is not None


def test_import_is_light() -> None:
    import subprocess
    import sys

    code = "import sys, depthforge; print(','.join(m for m in ('torch', 'transformers', 'cv2') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
