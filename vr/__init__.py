"""vr: raw videos to trained RGB, Flow and two-stream 3D CNNs."""

__version__ = "0.1.0"
