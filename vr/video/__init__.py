"""Video files, the base layer every stage that touches raw video imports (preprocessing, shards,
loaders, inference, the synthetic dataset): the ffmpeg binary (``ffmpeg_bin``) and the reading of its
logs (``ffmpeg_log``: levels, damage, the decoder's own frame and error counts), probing without
ffprobe (``probe``), decoding to RGB frames in memory (``decode.iter_frames``), output sizes
(``geometry``), finding the videos of a dataset's folder layout with its symlink guard (``find``) and
JPEG encoding of decoded frames (``jpeg``)."""
