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
