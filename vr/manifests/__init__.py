"""Dataset annotations (UCF101, HMDB51, Kinetics, ActivityNet, Moments in Time, folders) to one manifest."""
