"""Slice mode: a 2D model on the slices of volumes, aggregated per volume and patient."""
