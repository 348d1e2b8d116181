"""`python -m vr` (used by `torchrun -m vr ...`)."""

from vr.cli import main

if __name__ == "__main__":
    main()
