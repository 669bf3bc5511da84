"""Unprojection, point clouds, meshes and normals."""
