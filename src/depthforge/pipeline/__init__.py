"""Orchestration of images, folders, videos and batches."""
