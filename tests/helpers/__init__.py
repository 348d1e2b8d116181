"""What the tests build and run with: the in-process CLI runner (``cli``), real motion frames
(``motion``), tiny shards and frame folders (``shards``), small real videos (``videos``) and a tiny
checkpoint (``checkpoints``). Test modules import these, never each other."""
