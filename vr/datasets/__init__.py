"""Datasets that `vr` generates itself (the synthetic motion dataset)."""
