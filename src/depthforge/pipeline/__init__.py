"""Runs over files: one photo, folders, videos and resumable batches (with their outputs on disk)."""

from depthforge.pipeline.batch import BatchJob, BatchSummary, run_batch
from depthforge.pipeline.detail import DetailOptions, estimate_detailed
from depthforge.pipeline.encode import EncodedVideo, encode_frames
from depthforge.pipeline.estimation import EstimateOptions, Summary, estimate, run_estimate
from depthforge.pipeline.generation import GenerationResult, generate, generation_size, parameters_metadata
from depthforge.pipeline.layered_photo import Photo3DOptions, Photo3DResult, photo3d
from depthforge.pipeline.producers import PRODUCERS, BatchOptions
from depthforge.pipeline.temporal import FrameFit, TemporalStabilizer, flicker_index
from depthforge.pipeline.video import STEREO_VIDEO_LAYOUTS, VideoOptions, VideoResult, run_video

__all__ = [
    "PRODUCERS",
    "BatchJob",
    "BatchOptions",
    "BatchSummary",
    "DetailOptions",
    "EncodedVideo",
    "EstimateOptions",
    "GenerationResult",
    "Photo3DOptions",
    "Photo3DResult",
    "Summary",
    "TemporalStabilizer",
    "VideoOptions",
    "VideoResult",
    "encode_frames",
    "estimate",
    "estimate_detailed",
    "generate",
    "flicker_index",
    "photo3d",
    "run_batch",
    "run_estimate",
    "run_video",
    "generation_size",
    "parameters_metadata",
    "FrameFit",
    "STEREO_VIDEO_LAYOUTS",
]
