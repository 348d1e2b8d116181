"""Output frame size: a short side keeping aspect (ffmpeg's ``scale=-1:S`` / ``-2:S`` rounding) or fixed."""

from __future__ import annotations


def _rescale(a: int, b: int, c: int) -> int:
    """``a * b / c`` rounded half away from zero, as ffmpeg's ``av_rescale``."""
    return (2 * a * b + c) // (2 * c)


def check_size_args(size: int | None, width: int | None, height: int | None) -> None:
    """Raise ValueError unless the arguments ask for one of: nothing, a short side, or width and height."""
    if (width is None) != (height is None):
        raise ValueError("give both width and height, or neither")
    if size is not None and width is not None:
        raise ValueError("give either a short side size or width and height, not both")
    for name, value in (("size", size), ("width", width), ("height", height)):
        if value is not None and value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")


def scaled_size(
    in_width: int,
    in_height: int,
    size: int | None = None,
    width: int | None = None,
    height: int | None = None,
    even: bool = False,
) -> tuple[int, int]:
    """(width, height) of the output: fixed ``width``x``height``; the short side set to ``size`` (the long
    side scaled to keep aspect, rounded like ffmpeg, to an even number with ``even``); else the input's."""
    check_size_args(size, width, height)
    if width is not None and height is not None:
        return width, height
    if size is None:
        return in_width, in_height
    factor = 2 if even else 1
    if in_width > in_height:  # the 3D-ResNets seed's rule: landscape sets the height, else the width
        return _rescale(size, in_width, in_height * factor) * factor, size
    return size, _rescale(size, in_height, in_width * factor) * factor


def scale_expressions(size: int | None, width: int | None, height: int | None) -> dict[str, str] | None:
    """Arguments of ffmpeg's ``scale`` filter giving ``scaled_size(..., even=False)`` without probing first;
    None when no scaling is asked for."""
    check_size_args(size, width, height)
    if width is not None and height is not None:
        return {"w": str(width), "h": str(height)}
    if size is None:
        return None
    return {"w": f"if(gt(iw,ih),-1,{size})", "h": f"if(gt(iw,ih),{size},-1)"}
