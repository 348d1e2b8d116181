"""Using trained models: clip- and video-level evaluation (`vr eval`), predictions on raw videos
(`vr infer`), two-stream fusion (`vr fuse`), the predictions format and the metrics."""
