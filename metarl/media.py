"""Pictures and videos of panels: captions, paths in the plane, grids, and PNG/GIF/MP4 files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from metarl.envs.views import PlaneView
from metarl.errors import ConfigError

FORMATS = (".png", ".gif", ".mp4")
FONT_SIZE = 14
LINE_HEIGHT = FONT_SIZE + 4
GAP = 4
STEP_COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189)]
"""Path colour of the k-th column (matplotlib's first colours), cycling."""


def check_output(path: Path) -> None:
    """ConfigError unless ``path`` ends in a supported suffix."""
    if path.suffix.lower() not in FORMATS:
        raise ConfigError(f"--out must end in {', '.join(FORMATS)}; got {path.name!r}")


def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=FONT_SIZE)


def caption(image: np.ndarray, lines: list[str]) -> np.ndarray:
    """``image`` under a white strip holding ``lines`` of text."""
    height, width = image.shape[:2]
    canvas = Image.new("RGB", (width, height + LINE_HEIGHT * len(lines) + 4), "white")
    draw = ImageDraw.Draw(canvas)
    for row, line in enumerate(lines):
        draw.text((4, 2 + row * LINE_HEIGHT), line, fill="black", font=_font())
    canvas.paste(Image.fromarray(image), (0, LINE_HEIGHT * len(lines) + 4))
    return np.asarray(canvas)


def plane_bounds(view: PlaneView, paths: list[np.ndarray]) -> tuple[float, float, float, float]:
    """The view's bounds widened to fit every path, so panels drawn in them share one camera."""
    points = np.concatenate([path.reshape(-1, 2) for path in paths])
    x_min, x_max, y_min, y_max = view.bounds
    return (
        min(x_min, points[:, 0].min()),
        max(x_max, points[:, 0].max()),
        min(y_min, points[:, 1].min()),
        max(y_max, points[:, 1].max()),
    )


def plane_picture(
    view: PlaneView,
    positions: np.ndarray,
    color: tuple[int, int, int],
    size: tuple[int, int],
    bounds: tuple[float, float, float, float],
) -> np.ndarray:
    """A path (``[T, 2]`` positions) drawn in ``bounds``, with the view's box in grey, a hollow
    circle at the start, a black cross at the goal and a dot at the current end."""
    width, height = size
    x_min, x_max, y_min, y_max = bounds
    scale = min((width - 20) / (x_max - x_min), (height - 20) / (y_max - y_min))
    x_mid, y_mid = (x_min + x_max) / 2, (y_min + y_max) / 2

    def pixel(x: float, y: float) -> tuple[float, float]:
        return width / 2 + (x - x_mid) * scale, height / 2 - (y - y_mid) * scale

    image = Image.new("RGB", size, (250, 250, 250))
    draw = ImageDraw.Draw(image)
    lo, hi = pixel(view.bounds[0], view.bounds[3]), pixel(view.bounds[1], view.bounds[2])
    draw.rectangle([lo, hi], outline=(200, 200, 200))
    if view.goal is not None:
        gx, gy = pixel(*view.goal)
        draw.line([(gx - 7, gy - 7), (gx + 7, gy + 7)], fill="black", width=3)
        draw.line([(gx - 7, gy + 7), (gx + 7, gy - 7)], fill="black", width=3)
    points = [pixel(float(x), float(y)) for x, y in positions]
    sx, sy = points[0]
    draw.ellipse([sx - 5, sy - 5, sx + 5, sy + 5], outline=(90, 90, 90), width=2)
    if len(points) > 1:
        draw.line(points, fill=color, width=2)
    ex, ey = points[-1]
    draw.ellipse([ex - 4, ey - 4, ex + 4, ey + 4], fill=color)
    return np.asarray(image)


def tile(rows: list[list[np.ndarray]]) -> np.ndarray:
    """The panels in a grid (all of one size), ``GAP`` pixels of white between them."""
    height, width = rows[0][0].shape[:2]
    canvas = np.full(
        (len(rows) * (height + GAP) - GAP, len(rows[0]) * (width + GAP) - GAP, 3), 255, np.uint8
    )
    for r, row in enumerate(rows):
        for c, panel in enumerate(row):
            top, left = r * (height + GAP), c * (width + GAP)
            canvas[top : top + height, left : left + width] = panel
    return canvas


def write_media(frames: list[np.ndarray], path: Path, fps: float) -> Path:
    """Write ``frames`` as a video (``.gif``, ``.mp4``) or their last one as a ``.png``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".png":
        Image.fromarray(frames[-1]).save(path)
    elif suffix == ".gif":
        images = [Image.fromarray(frame) for frame in frames]
        duration = max(20, round(1000 / fps))
        images[0].save(path, save_all=True, append_images=images[1:], duration=duration, loop=0)
    else:
        import imageio.v3 as iio

        iio.imwrite(path, np.stack([_even(frame) for frame in frames]), fps=fps, codec="libx264")
    return path


def mp4_available() -> bool:
    """Whether imageio's ffmpeg plugin (the ``render`` extra) is installed."""
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return False
    return True


def _even(frame: np.ndarray) -> np.ndarray:
    """Pad to a multiple of 16 pixels each way (H.264 macro blocks) with white."""
    height, width = frame.shape[:2]
    pad = ((0, -height % 16), (0, -width % 16), (0, 0))
    return np.pad(frame, pad, constant_values=255)
