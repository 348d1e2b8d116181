"""`vr bench`: how fast the pipeline runs on the user's own data and machine.

One module per stage: :mod:`~vr.bench.model` (training or inference steps of a model),
:mod:`~vr.bench.loader` (clips/s of a loader, set against a model's appetite), :mod:`~vr.bench.flow`
(TV-L1 pairs/s on frame folders), :mod:`~vr.bench.extract` (frame extraction on videos). Each returns a
plain record; :mod:`~vr.bench.report` prints it as a table or writes it as JSON.
"""
