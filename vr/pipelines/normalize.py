"""Mean/std normalisation constants, in 0..255 pixel units (both backends normalise uint8 pixels).

RGB uses the 3D-ResNets seed's ``get_mean_std`` values (given on 0..1, ``value_scale=1``), Kinetics by
default. Flow is 128-centred: ``(v - 128) / 128`` per channel (x, y), so zero motion is 0 and the
+-bound range maps to about [-1, 1]; a horizontal flip first replaces x by ``255 - x``.
"""

from __future__ import annotations

RGB_MEAN_STD = {
    "kinetics": ((0.4345, 0.4051, 0.3775), (0.2768, 0.2713, 0.2737)),
    "activitynet": ((0.4477, 0.4209, 0.3906), (0.2767, 0.2695, 0.2714)),
    "0.5": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}
FLOW_CENTER = 128.0


def mean_std(modality: str, dataset: str = "kinetics") -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel (mean, std) in pixel units for ``modality`` (``dataset`` picks the RGB statistics)."""
    if modality == "flow":
        return (FLOW_CENTER, FLOW_CENTER), (FLOW_CENTER, FLOW_CENTER)
    if dataset not in RGB_MEAN_STD:
        raise ValueError(f"mean dataset must be one of {sorted(RGB_MEAN_STD)}, got {dataset!r}")
    mean, std = RGB_MEAN_STD[dataset]
    return tuple(255.0 * m for m in mean), tuple(255.0 * s for s in std)
