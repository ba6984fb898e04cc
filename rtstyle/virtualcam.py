"""A virtual webcam that video calls and OBS can pick: the live loop's stylized stream, via pyvirtualcam.

pyvirtualcam is an optional extra (`pip install 'rtstyle[virtualcam]'`); it drives v4l2loopback on
Linux and OBS Studio's virtual camera on Windows and macOS. Frames go in as BGR uint8, the
same arrays as everywhere else in rtstyle; pyvirtualcam converts them to the device's format.
"""

from __future__ import annotations

import sys

import cv2
import numpy as np

from .errors import UserError

INSTALL = "pip install 'rtstyle[virtualcam]'"


def _no_device_hint() -> str:
    if sys.platform.startswith("linux"):
        return (
            "install and load v4l2loopback (Debian/Ubuntu: sudo apt install v4l2loopback-dkms; "
            "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=rtstyle)"
        )
    return "install OBS Studio (28 or later) and start its virtual camera once, then stop it"


class VirtualCamera:
    """An open virtual camera of a fixed size; `send` takes BGR uint8 H×W×3 frames.

    `backend` and `device` are pyvirtualcam's (None: the platform's default, the first free
    device). A frame of another size is resized to the camera's size (a camera cannot change
    size once a video call has it open).
    """

    def __init__(self, width: int, height: int, fps: float, backend: str | None = None, device: str | None = None):
        try:
            import pyvirtualcam
        except ImportError:
            raise UserError(f"--virtual-camera needs pyvirtualcam: {INSTALL}") from None
        try:
            self._camera = pyvirtualcam.Camera(
                width, height, fps, fmt=pyvirtualcam.PixelFormat.BGR, backend=backend, device=device
            )
        except KeyError:
            raise UserError(f"no virtual camera backend named {backend!r}") from None
        except RuntimeError:  # pyvirtualcam's own text is a paragraph per backend tried
            raise UserError(f"no virtual camera device: {_no_device_hint()}") from None
        self.width, self.height = width, height

    @property
    def name(self) -> str:
        """The device as apps list it, e.g. /dev/video4 or 'OBS Virtual Camera'."""
        return self._camera.device

    @property
    def frames_sent(self) -> int:
        return self._camera.frames_sent

    def send(self, frame: np.ndarray, stamp: float | None = None) -> None:
        """Show `frame` now (a FrameOutput of the live loop; `stamp`, its capture time, is not needed)."""
        if frame.shape[:2] != (self.height, self.width):
            frame = cv2.resize(frame, (self.width, self.height), interpolation=cv2.INTER_AREA)
        self._camera.send(np.ascontiguousarray(frame))

    def close(self) -> None:
        self._camera.close()

    def __enter__(self) -> VirtualCamera:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
