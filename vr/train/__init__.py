"""Training (`vr train`): the run configuration (``config``), the run (``trainer``), one epoch
(``engine``), optimisers and schedules (``optim``), DDP (``distributed``), checkpoint states and RNG
(``checkpoint``) and the CSV/TensorBoard logs (``logs``)."""
