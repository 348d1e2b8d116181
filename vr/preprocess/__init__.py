"""Preprocessing: frame extraction (ffmpeg), TV-L1 optical flow (OpenCV), parallel runner (joblib)."""
