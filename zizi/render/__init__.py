"""Turning generator output into images, grids and (later) video."""
