"""The decoded photo: :class:`Image` (RGB pixels, alpha kept aside, the file it came from, camera facts).

A core type like :class:`~depthforge.core.depthmap.DepthMap`: every layer passes images around, only
:mod:`depthforge.io.images` reads and writes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from depthforge.core.errors import InputError, ValidationError
from depthforge.core.validation import check_array

__all__ = ["Image", "check_image", "to_uint8"]


@dataclass(frozen=True, eq=False)
class Image:
    """A decoded photo, upright (EXIF orientation applied).

    Functions that take an ``image`` parameter accept an :class:`Image` or its pixel array alike.

    Attributes:
        rgb: (H, W, 3) uint8 or uint16 RGB (grayscale replicated to three channels). Named for its channels (the
            project's ``image`` names the whole photo, this is its pixel array).
        alpha: (H, W) same dtype as ``rgb``, or None when the file has no alpha (kept aside, never composited).
        path: the file it came from ("" for in-memory images).
        exif: camera facts for intrinsics: ``focal_length_mm``, ``focal_length_35mm`` when present.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    path: str = ""
    exif: dict[str, Any] = field(default_factory=dict)

    @property
    def width(self) -> int:
        return self.size_hw[1]

    @property
    def height(self) -> int:
        return self.size_hw[0]

    @property
    def size_hw(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return (int(self.rgb.shape[0]), int(self.rgb.shape[1]))

    def as_uint8(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB."""
        return to_uint8(self.rgb)

    def as_float(self) -> np.ndarray:
        """(H, W, 3) float32 RGB in [0, 1]."""
        scale = 65535.0 if self.rgb.dtype == np.uint16 else 255.0
        return self.rgb.astype(np.float32) / np.float32(scale)

    @classmethod
    def from_array(cls, image: np.ndarray, *, path: str = "") -> Image:
        """Wrap an (H, W), (H, W, 3) or (H, W, 4) uint8/uint16 array (RGB order; float in [0, 1] is converted to
        uint8) as an Image; a fourth channel is kept aside as alpha."""
        a = check_array(image, "image", ndim=(2, 3), channels=(1, 3, 4))
        if a.dtype.kind != "f" and a.dtype not in (np.uint8, np.uint16):
            raise InputError(f"image: unsupported dtype {a.dtype} (use uint8, uint16 or float in [0, 1])")
        a = to_uint8(a) if a.dtype.kind == "f" else a
        alpha = None
        if a.ndim == 2:
            a = np.repeat(a[:, :, None], 3, axis=2)
        elif a.shape[2] == 1:
            a = np.repeat(a, 3, axis=2)
        elif a.shape[2] == 4:
            alpha = np.ascontiguousarray(a[:, :, 3])
            a = a[:, :, :3]
        return cls(rgb=np.ascontiguousarray(a), alpha=alpha, path=path)


def check_image(
    image: np.ndarray | Image, name: str = "image", *, unit_floats: bool = True, **checks: Any
) -> np.ndarray:
    """The pixel array of an ``image`` parameter (an :class:`Image` or an array), checked by
    :func:`~depthforge.core.validation.check_array` (default ``ndim=3``, ``channels=3``; ``checks`` override);
    with ``unit_floats`` (for what becomes 8-bit pixels), float pixels must lie in [0, 1] (0..255 floats would
    turn white); warps that move any values leave it off."""
    rules: dict[str, Any] = {"ndim": 3, "channels": 3, **checks}
    a = check_array(image.rgb if isinstance(image, Image) else image, name, **rules)
    top = float(np.fmax.reduce(a, axis=None)) if unit_floats and a.dtype.kind == "f" else 0.0
    if top > 1.001:  # user trial 5: 0..255 floats were clipped to white in silence
        raise ValidationError(f"{name}: float pixels must lie in 0..1, got up to {top:g} (divide by 255, or use uint8)")
    return a


def to_uint8(image: np.ndarray | Image) -> np.ndarray:
    """uint8 pixels of an :class:`Image` or of a uint8/uint16/float-[0,1] array (copy only when the dtype changes).

    >>> to_uint8(np.array([[0, 65535]], np.uint16)).tolist()
    [[0, 255]]
    """
    a = image.rgb if isinstance(image, Image) else image
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.uint16:
        return ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    return (np.clip(a, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
