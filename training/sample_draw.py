#!/usr/bin/env python
"""Draw digits with a trained DRAW model: a grid of samples, and the drawing sequence (the canvas
after each glimpse, with the write window it was drawn through as a red rectangle) as a PNG
strip and an animated GIF.

Examples:
  python training/sample_draw.py --model runs/draw --out samples/          # 16 digits, seed 0
  python training/sample_draw.py --model runs/draw --out samples/ --count 36 --seed 7 --sequence 6
  python training/sample_draw.py --model runs/draw --out grid.png          # grid.png, grid-drawing.*

--out is a folder (made if missing) that receives samples.png (the final canvases), drawing.png
(a row per sample, a column per step) and drawing.gif (the grid drawn step by step); or a file
name NAME.png, which holds the grid, with NAME-drawing.png and NAME-drawing.gif beside it.
Existing files are never overwritten: the script refuses before it draws anything. The noise z is
drawn from --seed, so the same seed gives the same pictures.
"""

import argparse
import pathlib
import sys

from kerasrnn.cli import quiet_tensorflow_logs  # noqa: E402

quiet_tensorflow_logs(__name__)  # before TensorFlow loads: its start-up lines out, its errors kept

SEQUENCE = 4  # samples in drawing.png by default


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="run directory written by train_draw.py")
    p.add_argument("--out", required=True,
                   help="folder to write samples.png, drawing.png and drawing.gif into, or NAME.png")
    p.add_argument("--count", type=int, default=16, help="digits to draw (default 16)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise z (default 0)")
    p.add_argument("--sequence", type=int,
                   help=f"samples shown step by step in the drawing strip (default {SEQUENCE}, "
                        "at most --count)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from kerasrnn.cli import run

    return run(lambda: sample(args), ["count", "seed", "sequence", "model"])


def output_paths(out):
    """`{"samples", "drawing", "animation"}` -> the files `--out` names (see the docstring).

    Raises:
        InputError: `--out` is a file that is not .png, or one of the files exists already.
    """
    from kerasrnn.errors import InputError

    out = pathlib.Path(out)
    if out.suffix.lower() == ".png":
        stem = out.with_suffix("")
        paths = {"samples": out, "drawing": stem.with_name(stem.name + "-drawing.png"),
                 "animation": stem.with_name(stem.name + "-drawing.gif")}
        folder = out.parent
    else:
        if out.exists() and not out.is_dir():
            raise InputError(f"--out {out} is a file; give a folder or a NAME.png")
        paths = {"samples": out / "samples.png", "drawing": out / "drawing.png",
                 "animation": out / "drawing.gif"}
        folder = out
    if folder.exists() and not folder.is_dir():
        raise InputError(f"--out: {folder} is not a folder")
    taken = [str(p) for p in paths.values() if p.is_symlink() or p.exists()]
    if taken:
        raise InputError(f"--out: {', '.join(taken)} already exist{'s' if len(taken) == 1 else ''}; "
                         "sample_draw never overwrites files: remove them or choose another --out")
    return paths


def sample(args):
    from kerasrnn.config_checks import check_int, check_seed
    from kerasrnn.errors import InputError
    from kerasrnn.kinds.draw import pictures

    check_int("count", args.count, 1, pictures.MAX_COUNT)
    check_seed(args.seed)
    sequence = min(SEQUENCE, args.count) if args.sequence is None else args.sequence
    if not 1 <= sequence <= args.count:
        raise InputError(f"sequence must be between 1 and --count {args.count}, got {sequence}")
    paths = output_paths(args.out)

    from kerasrnn.kinds.draw.model import generator_from
    from kerasrnn.kinds.draw.trained import load_draw

    model, config = load_draw(args.model)
    settings = config["model"]
    generator = generator_from(model, **settings)
    noise = pictures.sample_noise(args.count, settings["steps"], settings["latent_dim"], args.seed)
    canvases, windows = pictures.draw(generator, noise)
    if not settings["attention"]:
        windows = None  # the baseline writes the whole canvas: no window to draw
    strip_frames = pictures.drawing_frames(canvases[:sequence],
                                           None if windows is None else windows[:sequence],
                                           settings["write_size"], scale=2)
    contents = {paths["samples"]: pictures.png_bytes(pictures.samples_grid(canvases)),
                paths["drawing"]: pictures.png_bytes(pictures.drawing_strip(strip_frames)),
                paths["animation"]: pictures.gif_bytes(pictures.animation_frames(
                    canvases, windows, settings["write_size"]))}
    output_paths(args.out)  # again: a file made there while the model drew is not overwritten
    folder = paths["samples"].parent
    made = not folder.exists()
    if made:
        try:
            folder.mkdir(parents=True)
        except OSError as e:
            from kerasrnn.files import AGAIN_HINT, write_problem_error

            raise write_problem_error(folder, e, AGAIN_HINT) from None
    try:
        pictures.write_files(contents)
    except InputError:
        if made:
            try:
                folder.rmdir()
            except OSError:
                pass
        raise
    steps = settings["steps"]
    print(f"wrote {paths['samples']} ({args.count} digits, seed {args.seed}), {paths['drawing']} "
          f"({sequence} x {steps} steps) and {paths['animation']} ({steps} frames)")


if __name__ == "__main__":
    sys.exit(main())
