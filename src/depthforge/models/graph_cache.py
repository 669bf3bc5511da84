"""On-disk cache of exported/compiled model graphs, their fingerprints and verification against PyTorch.

Layout: ``<cache root>/graphs/<model name>-<hash of its location>/<backend>-<variant>-<h>x<w or any>/`` holding the
graph files and ``manifest.json``. The manifest records the fingerprint of what the graph was built from (model files'
names, sizes and modification times; torch, transformers and backend versions; this module's format version) and
the deviation measured against PyTorch fp32 when it was built, and each graph file's size and modification time. A
graph whose fingerprint differs from the current one, or whose files changed since it was built, is stale and
rebuilt. The cache root is ``$DEPTHFORGE_CACHE``, else ``$XDG_CACHE_HOME/depthforge``, else
``~/.cache/depthforge``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from depthforge.models.hub import ModelSource, model_folder

__all__ = [
    "cache_root",
    "graph_dir",
    "fingerprint",
    "read_manifest",
    "build_atomically",
    "max_rel_error",
    "mean_abs_rel",
    "probe_images",
]

FORMAT_VERSION = 1
_WEIGHT_SUFFIXES = (".json", ".safetensors", ".bin", ".pt", ".pth")


def cache_root() -> Path:
    """Where compiled graphs live (see the module docstring)."""
    explicit = os.environ.get("DEPTHFORGE_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "depthforge"


def graph_dir(source: ModelSource, backend: str, variant: str, size_hw: tuple[int, int] | None) -> Path:
    """The cache folder of one model, backend, variant (dtype/quantisation) and input size (None: the graph of
    every input size, ``<backend>-<variant>-any``)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", source.spec.name)[:60] or "model"
    key = hashlib.sha256(source.location.encode("utf-8")).hexdigest()[:12]
    size = "any" if size_hw is None else f"{size_hw[0]}x{size_hw[1]}"
    return cache_root() / "graphs" / f"{name}-{key}" / f"{backend}-{variant}-{size}"


def fingerprint(source: ModelSource, versions: dict[str, str]) -> str:
    """A hash of what a graph is built from: the model files (name, size, mtime) and library versions."""
    h = hashlib.sha256()
    h.update(f"format {FORMAT_VERSION}\n{source.location}\n".encode())
    for key in sorted(versions):
        h.update(f"{key}={versions[key]}\n".encode())
    folder = model_folder(source)
    if folder is not None and folder.is_dir():
        for f in sorted(folder.iterdir()):
            if f.suffix in _WEIGHT_SUFFIXES and f.is_file():
                st = f.stat()
                h.update(f"{f.name} {st.st_size} {st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def read_manifest(folder: Path, expected_fingerprint: str, files: tuple[str, ...]) -> dict[str, Any] | None:
    """The manifest of a cached graph when it is complete and current, else None (absent or stale)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("fingerprint") != expected_fingerprint:
        return None
    if not all((folder / f).is_file() for f in files):
        return None
    recorded = manifest.get("files", {})  # user trial 6: a damaged graph file gave wrong depth without a word
    if isinstance(recorded, dict) and any(_stamp(folder / name) != stamp for name, stamp in recorded.items()):
        return None
    return manifest


def _stamp(path: Path) -> list[int] | None:
    """A graph file's [size, modification time in ns] (None when it cannot be read)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def build_atomically(folder: Path, build: Callable[[Path], dict[str, Any]], fp: str) -> dict[str, Any]:
    """Build a graph into a temporary sibling folder, write its manifest, then move it into place.

    ``build(tmp)`` writes the graph files into ``tmp`` and returns the manifest entries (deviations...).
    A failed build leaves no folder behind; a concurrent build of the same graph simply wins or loses the race.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        manifest = dict(build(tmp))
        manifest["fingerprint"] = fp
        manifest["format"] = FORMAT_VERSION
        # the graph files as built: one changed since (damaged, truncated, replaced) makes the graph stale
        manifest["files"] = {f.name: _stamp(f) for f in sorted(tmp.iterdir()) if f.is_file()}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        try:
            os.replace(tmp, folder)
        except OSError:  # another process put its build in place first: use that one
            shutil.rmtree(tmp, ignore_errors=True)
        return manifest
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def max_rel_error(ours: np.ndarray, ref: np.ndarray) -> float:
    """max |ours - ref| / max |ref| (0 when both are zero)."""
    scale = float(np.abs(ref).max()) or 1.0
    return float(np.abs(ours.astype(np.float64) - ref).max() / scale)


def mean_abs_rel(ours: np.ndarray, ref: np.ndarray) -> float:
    """mean |ours - ref| / mean |ref|: the deviation figure reported for fast modes."""
    scale = float(np.abs(ref).mean()) or 1.0
    return float(np.abs(ours.astype(np.float64) - ref).mean() / scale)


def _synthetic(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth random colour field with a few edges: a deterministic stand-in for a photo."""
    import cv2

    low = rng.integers(0, 256, (6, 8, 3)).astype(np.float32)
    img = cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:height, 0:width]
    for _ in range(3):
        cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(0.1, 0.3) * min(height, width)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(0, 256, 3)
    noise = np.asarray(rng.normal(0.0, 6.0, size=img.shape), dtype=np.float32)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def probe_images(count: int, *, seed: int = 0) -> list[np.ndarray]:
    """``count`` RGB uint8 photos for verification and calibration: scikit-image's bundled photographs when it
    is installed, then deterministic synthetic images."""
    photos: list[np.ndarray] = []
    try:
        from skimage import data

        for name in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "retina"):
            if len(photos) >= count:
                break
            img = getattr(data, name)()
            if img.ndim == 3 and img.shape[2] == 3:
                photos.append(np.ascontiguousarray(img))
    except Exception:  # noqa: BLE001 - optional source of photos; synthetic images follow
        photos = []
    rng = np.random.default_rng(seed)
    while len(photos) < count:
        photos.append(_synthetic(rng, 480, 640))
    return photos[:count]
