"""Training, evaluation, inference and two-stream fusion."""
