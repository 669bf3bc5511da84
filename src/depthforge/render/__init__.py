"""Image outputs made from an image and its depth."""
