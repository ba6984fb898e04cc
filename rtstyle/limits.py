"""Limits on what rtstyle reads (docs/security.md lists them all).

The pixel limit: one cap for every still image and every video frame rtstyle reads (files,
cameras, streams), checked from headers before any pixel is decoded, and given to FFmpeg's
decoder as `max_pixels`, so a frame that grows mid-stream is refused there too. The stream
timeout: how long a network source (rtsp://, http://) may stay silent.
"""

from __future__ import annotations

from .errors import UserError, positive_env_number

MAX_MEGAPIXELS_VAR = "RTSTYLE_MAX_MEGAPIXELS"
DEFAULT_MAX_MEGAPIXELS = 100.0  # a 12 MP phone photo is 12; a 100 MP one decodes to 300 MB of BGR
STREAM_TIMEOUT_VAR = "RTSTYLE_STREAM_TIMEOUT_S"
DEFAULT_STREAM_TIMEOUT_S = 10.0  # OpenCV's own is 30 s


def max_pixels() -> int:
    """The largest picture (width × height) rtstyle reads: RTSTYLE_MAX_MEGAPIXELS, default 100 MP."""
    return int(positive_env_number(MAX_MEGAPIXELS_VAR, DEFAULT_MAX_MEGAPIXELS, "megapixels") * 1e6)


def stream_timeout_s() -> float:
    """How long a network video source may take to open or to send a frame: RTSTYLE_STREAM_TIMEOUT_S, default 10."""
    return positive_env_number(STREAM_TIMEOUT_VAR, DEFAULT_STREAM_TIMEOUT_S, "seconds")


def megapixels(pixels: float) -> str:
    """Pixels in megapixels for a message: '35.4', '0.0144' (never a rounded-away '0')."""
    mp = pixels / 1e6
    return f"{mp:.0f}" if mp >= 1000 else f"{mp:.3g}"


def check_pixels(what: str, width: int, height: int) -> None:
    """Refuse a picture over max_pixels(); `what` names it ("image x.png", "video clip.mp4")."""
    limit = max_pixels()
    if width * height > limit:
        raise UserError(
            f"{what} claims {width}x{height} ({megapixels(width * height)} megapixels), over the limit of "
            f"{megapixels(limit)}; a larger limit is {MAX_MEGAPIXELS_VAR}=<megapixels>"
        )
