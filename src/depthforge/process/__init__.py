"""Pure functions depth -> depth (normalise for display, resample, filter, fill, align)."""
