"""Reading and writing images, depth files, depth photos and video (every write atomic, every read checked)."""

from depthforge.io.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from depthforge.io.depthfiles import DEPTH_FORMATS, read_depth, sidecar_path, write_depth
from depthforge.io.depthphoto_read import DepthPhoto, read_depth_photo
from depthforge.io.depthphoto_write import PHOTO_FORMATS, write_depth_photo
from depthforge.io.images import IMAGE_EXTENSIONS, read_image, write_image
from depthforge.io.png import encode_png
from depthforge.io.sequence import iter_clip, probe_clip
from depthforge.io.video import VIDEO_EXTENSIONS, VideoInfo, iter_frames, probe_video
from depthforge.io.video_writer import VideoWriter

__all__ = [
    "DEPTH_FORMATS",
    "DepthPhoto",
    "IMAGE_EXTENSIONS",
    "PHOTO_FORMATS",
    "VIDEO_EXTENSIONS",
    "VideoInfo",
    "VideoWriter",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "encode_png",
    "iter_clip",
    "iter_frames",
    "probe_clip",
    "probe_video",
    "read_depth",
    "read_depth_photo",
    "read_image",
    "sidecar_path",
    "write_depth",
    "write_depth_photo",
    "write_image",
]
