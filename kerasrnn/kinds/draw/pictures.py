"""Pictures of what DRAW draws: a grid of generated digits, the drawing sequence (the canvas after
each glimpse with the write window drawn on it) and their PNG and animated GIF files.

Images are uint8 RGB arrays `(height, width, 3)`: the canvas white on black, upscaled `scale`
times (nearest neighbour), the write window a red rectangle, cells parted by grey lines.

The write window of a step is `(g_x, g_y, delta, sigma)` in the paper's 1-based pixels (pixel `a`
of a row is 1..A; `kerasrnn.layers.draw_attention`): its N filters are centred on
`mu^i = g + (i - N/2 - 0.5) delta`, i = 1..N. The rectangle runs from the first filter's centre
to the last's on both axes. Pixel `a` (1-based) covers `[a - 1, a)` in 0-based image units, so a
1-based position `mu` is the image coordinate `mu - 0.5`; on a picture upscaled `s` times its line
is the picture's pixel whose span `[p, p + 1)` holds `s (mu - 0.5)`. Parts of the window outside
the picture are not drawn.
"""

import io
import math
import pathlib

import numpy as np
from PIL import Image

from kerasrnn import files
from kerasrnn.config_checks import check_int, check_seed

SCALE = 4  # picture pixels per canvas pixel
GAP = 2  # picture pixels between cells
WINDOW = (255, 0, 0)
GAP_GREY = 96
PROGRESS = (255, 160, 0)  # the bar under an animation's frame: how far the drawing has got
STEP_MS, LAST_MS = 120, 1500  # an animation frame's duration; the last one's, a pause
MAX_COUNT = 100  # the most samples one call draws: a 10 x 10 grid (memory: T grids of the GIF)
# The GIF's fixed palette: 254 greys, then the window's and the progress bar's colours, so
# every file is the same for the same pictures (no adaptive palette, no dithering).
_GREYS = 254


def sample_noise(count, steps, latent_dim, seed):
    """z ~ N(0, I) for `count` drawings: float32 `(count, steps, latent_dim)` from a numpy
    `Generator` seeded by `seed` (the same seed, the same noise)."""
    check_int("count", count, 1, MAX_COUNT)
    check_seed(seed)
    rng = np.random.default_rng(seed)
    return rng.standard_normal((count, steps, latent_dim), dtype=np.float32)


def draw(generator, noise):
    """Runs a generation model (`model.generator_from`) on `noise` `(B, T, z)`. Returns numpy
    `(canvases (B, T, H, W, C) in [0, 1], windows (B, T, 4))`."""
    out = generator.predict(noise, batch_size=min(len(noise), 64), verbose=0)
    return np.asarray(out["canvases"]), np.asarray(out["windows"])


def window_lines(window, size, scale=SCALE):
    """Where the rectangle of one write window lies on a picture upscaled `scale` times.

    Args:
        window: `(g_x, g_y, delta, sigma)` in 1-based pixels.
        size: N, the write window's filters per axis.

    Returns:
        `(left, right, top, bottom)`: the picture's columns and rows (0-based, unclipped) of the
        lines through the first and the last filter's centres.
    """
    g_x, g_y, delta = float(window[0]), float(window[1]), float(window[2])
    first, last = 1 - size / 2 - 0.5, size - size / 2 - 0.5  # (i - N/2 - 0.5) for i = 1, N

    def line(mu):
        return math.floor(scale * (mu - 0.5))

    return (line(g_x + first * delta), line(g_x + last * delta),
            line(g_y + first * delta), line(g_y + last * delta))


def _rectangle(picture, lines):
    """Draws the rectangle `(left, right, top, bottom)` on `picture` (H, W, 3) in place, only
    the parts that fall inside it."""
    height, width = picture.shape[:2]
    left, right, top, bottom = lines
    c0, c1 = max(left, 0), min(right, width - 1)
    r0, r1 = max(top, 0), min(bottom, height - 1)
    for row in (top, bottom):
        if 0 <= row < height and c0 <= c1:
            picture[row, c0:c1 + 1] = WINDOW
    for col in (left, right):
        if 0 <= col < width and r0 <= r1:
            picture[r0:r1 + 1, col] = WINDOW


def canvas_picture(canvas, window=None, size=None, scale=SCALE):
    """One canvas `(H, W, C)` in [0, 1] as uint8 RGB `(H scale, W scale, 3)`, white on black,
    with the write window `(4,)` of N = `size` filters drawn on it (`window=None`: none)."""
    canvas = np.asarray(canvas, np.float32)
    grey = np.round(np.clip(canvas.mean(axis=-1), 0.0, 1.0) * 255).astype(np.uint8)
    picture = np.repeat(np.repeat(grey, scale, axis=0), scale, axis=1)
    picture = np.repeat(picture[..., None], 3, axis=-1)
    if window is not None:
        _rectangle(picture, window_lines(window, size, scale))
    return picture


def tile(pictures, columns, gap=GAP):
    """Pictures `(n, h, w, 3)` in rows of `columns`, parted by `gap` grey pixels: uint8
    `(rows h + (rows - 1) gap, columns w + (columns - 1) gap, 3)`; empty cells are grey."""
    pictures = np.asarray(pictures)
    n, h, w = pictures.shape[:3]
    rows = math.ceil(n / columns)
    sheet = np.full((rows * h + (rows - 1) * gap, columns * w + (columns - 1) * gap, 3), GAP_GREY,
                    np.uint8)
    for k, picture in enumerate(pictures):
        r, c = divmod(k, columns)
        sheet[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = picture
    return sheet


def grid_columns(count):
    """Columns of a near-square grid of `count` cells."""
    return math.ceil(math.sqrt(count))


def samples_grid(canvases, scale=SCALE):
    """The final canvases `(B, T, H, W, C)` as one near-square grid picture (no windows)."""
    last = [canvas_picture(c[-1], scale=scale) for c in canvases]
    return tile(last, grid_columns(len(last)))


def _windows_of(windows, b, t):
    return None if windows is None else windows[b, t]


def drawing_frames(canvases, windows, size, scale=SCALE):
    """The drawing sequence of every sample, step by step.

    Args:
        canvases: `(B, T, H, W, C)` in [0, 1], the canvas after each step.
        windows: `(B, T, 4)` write windows, or None (a model without attention: no window).
        size: N of the write window.

    Returns:
        uint8 `(B, T, H scale, W scale, 3)`: the canvas after step t with the window it was
        written through.
    """
    return np.stack([np.stack([canvas_picture(canvases[b, t], _windows_of(windows, b, t), size,
                                              scale) for t in range(canvases.shape[1])])
                     for b in range(canvases.shape[0])])


def drawing_strip(frames):
    """Frames `(B, T, h, w, 3)` as one picture: a row per sample, a column per step."""
    count, steps = frames.shape[:2]
    return tile(frames.reshape(count * steps, *frames.shape[2:]), steps)


def animation_frames(canvases, windows, size, scale=SCALE):
    """The grid of every sample at each step, with a progress bar under it, one step at a time
    (a generator: the frames of a large grid are never all held at once).

    Args:
        canvases, windows, size, scale: as `drawing_frames`.

    Yields:
        T uint8 pictures `(height, width, 3)`. The bar (t / T of the width) also keeps every
        frame distinct, so a GIF holds all T.
    """
    count, steps = canvases.shape[:2]
    columns = grid_columns(count)
    for t in range(steps):
        sheet = tile([canvas_picture(canvases[b, t], _windows_of(windows, b, t), size, scale)
                      for b in range(count)], columns)
        bar = np.zeros((GAP + 3, sheet.shape[1], 3), np.uint8)
        bar[GAP:, : round(sheet.shape[1] * (t + 1) / steps)] = PROGRESS
        yield np.concatenate([sheet, bar], axis=0)


def png_bytes(picture):
    """A uint8 RGB picture `(h, w, 3)` as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(picture, np.uint8), "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def _palette_frame(frame):
    """A picture of this module (greys, the window's and the bar's colours) as a "P" image of
    the fixed palette: exact for those colours (Pillow's own mapping to a palette is not)."""
    frame = np.asarray(frame, np.uint8)
    grey = frame.astype(np.float32).mean(axis=-1)
    index = np.round(grey * (_GREYS - 1) / 255).astype(np.uint8)
    index[np.all(frame == WINDOW, axis=-1)] = _GREYS
    index[np.all(frame == PROGRESS, axis=-1)] = _GREYS + 1
    image = Image.fromarray(index, "P")
    greys = np.round(np.arange(_GREYS) * 255 / (_GREYS - 1)).astype(np.uint8)
    colours = [(g, g, g) for g in greys] + [WINDOW, PROGRESS]
    image.putpalette([int(v) for colour in colours for v in colour])
    return image


def gif_bytes(frames, step_ms=STEP_MS, last_ms=LAST_MS):
    """Frames, uint8 `(h, w, 3)` each (an array `(T, h, w, 3)` or an iterable), as an animated GIF that loops, `step_ms` a frame and
    `last_ms` on the last, in a fixed palette (254 greys, the window's red, the bar's orange):
    a grey level is kept within 1 / 253 of white."""
    images = [_palette_frame(f) for f in frames]
    durations = [step_ms] * (len(images) - 1) + [last_ms]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                   duration=durations, loop=0, optimize=False, disposal=1)
    return buffer.getvalue()


def write_files(contents, hint=files.AGAIN_HINT):
    """Writes `{path: bytes}`, each file whole (`files.write_bytes_atomic`); if one write fails,
    the files written before it are removed again, so a failure leaves none of them.

    Raises:
        FileError: A write failed (full disk, read-only folder), naming the file.
    """
    written = []
    try:
        for path, data in contents.items():
            path = pathlib.Path(path)
            files.write_bytes_atomic(path, data, hint)
            written.append(path)
    except files.FileError:
        for path in written:
            try:
                path.unlink()
            except OSError:
                pass
        raise
