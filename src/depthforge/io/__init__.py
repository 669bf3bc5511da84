"""Reading and writing images, depth files and video."""

from depthforge.core.image import Image
from depthforge.io.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from depthforge.io.depthfiles import DEPTH_FORMATS, read_depth, sidecar_path, write_depth
from depthforge.io.images import IMAGE_EXTENSIONS, read_image, write_image

__all__ = [
    "DEPTH_FORMATS",
    "IMAGE_EXTENSIONS",
    "Image",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "read_depth",
    "read_image",
    "sidecar_path",
    "write_depth",
    "write_image",
]
