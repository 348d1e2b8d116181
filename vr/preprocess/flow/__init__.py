"""TV-L1 optical flow: ``tvl1`` (`vr preprocess flow-tvl1`: per-video jobs over frame folders or videos),
``engines`` (the engine registry: OpenCV's DualTVL1, the batched PyTorch solver; TV-L1 parameters),
``tvl1_torch`` + ``tvl1_ops`` (that solver and its operators), ``io`` (quantised x/y JPEGs) and
``preview`` (`vr preprocess flow-preview`)."""
