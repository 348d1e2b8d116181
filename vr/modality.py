"""The two input modalities, each in one place: RGB frames and TV-L1 flow.

A :class:`Modality` is its name (it *is* that string: ``RGB == "rgb"``, so files, JSON and command lines
keep plain names) and carries what every stage needs to know about it: its input channels, the images a
frame position has (their shard member kinds and file names) and its normalisation.

Normalisation is in 0..255 pixel units (both backends normalise uint8 pixels): RGB uses the 3D-ResNets
seed's ``get_mean_std`` values (given on 0..1, ``value_scale=1``), Kinetics by default; flow is
128-centred, ``(v - 128) / 128`` per channel (x, y), so zero motion is 0 and the +-bound range maps to
about [-1, 1]; a horizontal flip first replaces x by ``255 - x``.
"""

from __future__ import annotations

from vr import layout

RGB_MEAN_STD = {
    "kinetics": ((0.4345, 0.4051, 0.3775), (0.2768, 0.2713, 0.2737)),
    "activitynet": ((0.4477, 0.4209, 0.3906), (0.2767, 0.2695, 0.2714)),
    "0.5": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}
FLOW_CENTER = 128.0


class Modality(str):
    """``rgb`` or ``flow``, with ``channels`` (3 or 2), ``images`` (the images of one frame position, as
    shard member kinds: ``rgb``; ``flow_x``, ``flow_y``) and ``flow`` (True for flow)."""

    channels: int
    images: tuple[str, ...]

    def __new__(cls, name: str, channels: int, images: tuple[str, ...]) -> Modality:
        self = super().__new__(cls, name)
        self.channels, self.images = channels, images
        return self

    def __reduce__(self):  # pickles (to loader workers) as the name, unpickles as the one instance
        return modality, (str(self),)

    @property
    def flow(self) -> bool:
        return self.images != ("rgb",)

    def file_names(self, index: int) -> tuple[str, ...]:
        """The files of 1-based frame position ``index`` in a frame (or flow) folder."""
        return layout.flow_names(index) if self.flow else (layout.image_name(index),)

    def mean_std(self, dataset: str = "kinetics") -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel (mean, std) in pixel units (``dataset`` picks the RGB statistics)."""
        if self.flow:
            return (FLOW_CENTER,) * 2, (FLOW_CENTER,) * 2
        if dataset not in RGB_MEAN_STD:
            raise ValueError(f"mean dataset must be one of {sorted(RGB_MEAN_STD)}, got {dataset!r}")
        mean, std = RGB_MEAN_STD[dataset]
        return tuple(255.0 * m for m in mean), tuple(255.0 * s for s in std)


RGB = Modality("rgb", 3, ("rgb",))
FLOW = Modality("flow", 2, ("flow_x", "flow_y"))
MODALITIES: dict[str, Modality] = {"rgb": RGB, "flow": FLOW}


def modality(name: str | Modality) -> Modality:
    """The :class:`Modality` called ``name``; ValueError for any other name."""
    try:
        return MODALITIES[str(name)]
    except KeyError:
        raise ValueError(f"modality must be one of {', '.join(MODALITIES)}, got {name!r}") from None


def from_channels(channels: int) -> Modality:
    """The modality of a model with ``channels`` input channels (3: RGB, 2: flow)."""
    for m in MODALITIES.values():
        if m.channels == channels:
            return m
    raise ValueError(f"no modality has {channels} input channels (RGB 3, flow 2)")


def mean_std(name: str | Modality, dataset: str = "kinetics") -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``modality(name).mean_std(dataset)``."""
    return modality(name).mean_std(dataset)
