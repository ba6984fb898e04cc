"""Rebuild docs/webcam-window.jpg: a screenshot of the real `rtstyle webcam` window.

    python docs/make_webcam_window.py -o docs/webcam-window.jpg [--model mosaic] [--display :77]

Nothing here is a photograph: the "camera" is a synthetic clip of a person at a desk in front
of a bookshelf and a window (drawn with OpenCV, so the picture carries no licence). The script
starts Xvfb, plays the clip through `rtstyle webcam` in a window, turns on the side-by-side view
(key v) and grabs the window from the screen. Needs Xvfb and xdotool (apt-get install xvfb xdotool).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import ImageGrab

WIDTH, HEIGHT, FPS = 640, 480, 30


def _noise(shape: tuple[int, int], cell: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth value noise in 0..1 at roughly `cell` pixels."""
    coarse = rng.random((shape[0] // cell + 2, shape[1] // cell + 2)).astype(np.float32)
    return cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def background(rng: np.random.Generator) -> np.ndarray:
    """The room: a warm wall, a window with sky and clouds, a bookshelf, a plant."""
    y = np.linspace(0, 1, HEIGHT, dtype=np.float32)[:, None, None]
    wall = np.array([170, 196, 222], np.float32) * (1.05 - 0.25 * y)  # BGR beige, darker low
    image = np.broadcast_to(wall, (HEIGHT, WIDTH, 3)).copy()
    image *= (0.94 + 0.1 * _noise((HEIGHT, WIDTH), 6, rng))[..., None]

    x0, y0, x1, y1 = 390, 40, 610, 230  # window: sky, clouds, frame
    sky_y = np.linspace(0, 1, y1 - y0, dtype=np.float32)[:, None, None]
    sky = np.array([235, 190, 120], np.float32) * (1 - sky_y) + np.array([245, 225, 200], np.float32) * sky_y
    clouds = _noise((y1 - y0, x1 - x0), 40, rng) ** 3
    image[y0:y1, x0:x1] = sky * (1 - clouds[..., None]) + 250 * clouds[..., None]
    cv2.rectangle(image, (x0, y0), (x1, y1), (235, 240, 245), 8)
    cv2.line(image, ((x0 + x1) // 2, y0), ((x0 + x1) // 2, y1), (235, 240, 245), 6)

    cv2.rectangle(image, (20, 60), (200, 420), (40, 62, 92), -1)  # bookshelf
    for shelf_y in (60, 150, 240, 330):
        x = 30
        while x < 190:
            width = int(rng.integers(10, 22))
            height = int(rng.integers(55, 82))
            colour = tuple(int(c) for c in rng.integers(40, 220, 3))
            cv2.rectangle(image, (x, shelf_y + 88 - height), (min(x + width, 190), shelf_y + 86), colour, -1)
            x += width + 2
        cv2.rectangle(image, (20, shelf_y + 86), (200, shelf_y + 92), (30, 48, 72), -1)

    cv2.rectangle(image, (540, 330), (600, 400), (60, 90, 160), -1)  # plant pot and leaves
    for _ in range(14):
        angle = float(rng.uniform(-2.6, -0.5))
        cx, cy = 570 + int(45 * np.cos(angle)), 330 + int(60 * np.sin(angle))
        cv2.ellipse(image, (cx, cy), (22, 8), np.degrees(angle), 0, 360, (60, int(rng.integers(120, 170)), 50), -1, cv2.LINE_AA)
    cv2.rectangle(image, (0, 420), (WIDTH, HEIGHT), (70, 100, 130), -1)  # the desk
    return image


def person(image: np.ndarray, sway: float) -> np.ndarray:
    """Head and shoulders of a person, `sway` pixels off centre, with soft shading."""
    out = image.copy()
    cx = int(WIDTH / 2 + sway)
    cv2.ellipse(out, (cx, 480), (175, 120), 0, 180, 360, (120, 70, 40), -1, cv2.LINE_AA)  # shoulders
    cv2.rectangle(out, (cx - 175, 478), (cx + 175, HEIGHT), (120, 70, 40), -1)
    cv2.rectangle(out, (cx - 30, 300), (cx + 30, 372), (120, 160, 205), -1)  # neck
    cv2.ellipse(out, (cx, 235), (78, 100), 0, 0, 360, (130, 175, 225), -1, cv2.LINE_AA)  # face
    cv2.ellipse(out, (cx, 195), (84, 72), 0, 180, 360, (30, 40, 60), -1, cv2.LINE_AA)  # hair
    cv2.ellipse(out, (cx - 70, 215), (16, 44), 10, 0, 360, (30, 40, 60), -1, cv2.LINE_AA)
    cv2.ellipse(out, (cx + 70, 215), (16, 44), -10, 0, 360, (30, 40, 60), -1, cv2.LINE_AA)
    for ex in (cx - 30, cx + 30):  # eyes, brows
        cv2.ellipse(out, (ex, 240), (12, 7), 0, 0, 360, (245, 245, 245), -1, cv2.LINE_AA)
        cv2.circle(out, (ex, 240), 5, (60, 50, 40), -1, cv2.LINE_AA)
        cv2.line(out, (ex - 14, 222), (ex + 14, 220), (40, 50, 70), 4, cv2.LINE_AA)
    cv2.ellipse(out, (cx, 285), (28, 14), 0, 15, 165, (70, 80, 170), 4, cv2.LINE_AA)  # smile
    cv2.line(out, (cx, 248), (cx - 6, 270), (100, 140, 190), 3, cv2.LINE_AA)  # nose
    light = np.linspace(1.12, 0.85, WIDTH, dtype=np.float32)[None, :, None]  # window light from the right
    return out * light[:, ::-1]


def make_clip(path: Path, seconds: float) -> Path:
    rng = np.random.default_rng(7)
    room = background(rng)
    grain = np.random.default_rng(8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS, width=WIDTH, height=HEIGHT)
        stream.pix_fmt = "yuv420p"
        for i in range(round(seconds * FPS)):
            frame = person(room, 18 * np.sin(i / 20))
            frame = cv2.GaussianBlur(frame, (0, 0), 0.8) + grain.normal(0, 3, frame.shape).astype(np.float32)
            picture = av.VideoFrame.from_ndarray(frame.clip(0, 255).astype(np.uint8), format="bgr24")
            picture.pts, picture.time_base = i, Fraction(1, FPS)
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--model", default="mosaic")
    parser.add_argument("--display", default=":77")
    parser.add_argument("--wait", type=float, default=6.0, help="seconds to let the FPS settle before the grab")
    args = parser.parse_args()
    env = {**os.environ, "DISPLAY": args.display}
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "desk.mp4", seconds=args.wait + 20)
        server = subprocess.Popen(["Xvfb", args.display, "-screen", "0", "1600x900x24", "-nolisten", "tcp"])
        live = None
        try:
            time.sleep(1.5)
            live = subprocess.Popen([sys.executable, "-m", "rtstyle.cli", "webcam", "-m", args.model, "--source", str(clip)], env=env)
            window = ""
            while not window:
                time.sleep(0.2)
                window = subprocess.run(["xdotool", "search", "--name", "^rtstyle$"], env=env, capture_output=True, text=True).stdout.split()[:1]
                window = window[0] if window else ""
            time.sleep(2)
            subprocess.run(["xdotool", "windowfocus", "--sync", window, "key", "v"], env=env, check=True)
            time.sleep(args.wait)
            shell = subprocess.run(["xdotool", "getwindowgeometry", "--shell", window], env=env, capture_output=True, text=True).stdout
            geometry = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", shell)}
            screen = cv2.cvtColor(np.asarray(ImageGrab.grab(xdisplay=args.display)), cv2.COLOR_RGB2BGR)
            shot = screen[geometry["Y"]:geometry["Y"] + geometry["HEIGHT"], geometry["X"]:geometry["X"] + geometry["WIDTH"]]
            cv2.imwrite(args.output, shot, [cv2.IMWRITE_JPEG_QUALITY, 90])
            print(f"wrote {args.output}: {shot.shape[1]}x{shot.shape[0]}")
            subprocess.run(["xdotool", "windowfocus", "--sync", window, "key", "q"], env=env)
            live.wait(10)
        finally:
            if live is not None and live.poll() is None:
                live.kill()
            server.terminate()


if __name__ == "__main__":
    main()
