#!/usr/bin/env python
"""Caption an image with a trained captioner and draw where it looked for each word.

Examples:
  python training/caption_image.py --model runs/cap-scenes --image photo.jpg
  python training/caption_image.py --model runs/cap-f8k --image dog.jpg --beam 5 --out dog-attention.png
  python training/caption_image.py --model runs/cap-scenes --scene 3        # a generated test scene
  python training/caption_image.py --model runs/cap-soft --model runs/cap-hard --scene 3   # one row each

Prints the caption (and its score; with --scene, the scene's reference caption first) and
writes the per-word attention overlay PNG (default: <image name>-attention.png beside the
current directory). Grayscale and RGBA images are
converted to RGB; any size is resized to the model's input size. --image takes JPEG, PNG or BMP
(told by the file's first bytes) of at most --max-image-pixels pixels, read from the file's header
before anything is decoded, so a small file that claims a huge size is refused, and of at most
--max-decode-work units of decoding work counted from its bytes (a progressive JPEG of thousands
of scans is refused; docs/security.md states the count).
"""

import argparse
import pathlib
import sys

from kerasrnn.cli import quiet_tensorflow_logs  # noqa: E402

quiet_tensorflow_logs(__name__)  # before TensorFlow loads: its start-up lines out, its errors kept


def parse_args(argv=None):
    from kerasrnn.kinds.captioner.limits import CaptionerLimits  # no TensorFlow

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, action="append",
                   help="a run directory written by train_captioner.py; repeat it to compare models "
                        "(one figure row each, e.g. soft vs hard attention)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", help="image file (JPEG, PNG or BMP)")
    source.add_argument("--scene", type=int,
                        help="caption test image N of the model's generated dataset (scenes, digits)")
    p.add_argument("--beam", type=int, default=3, help="beam width; 1 = greedy (default 3)")
    p.add_argument("--max-length", type=int, help="most words (default: the model's)")
    p.add_argument("--out", help="attention PNG to write (default: <image stem>-attention.png)")
    p.add_argument("--max-image-pixels", type=int, default=4096 * 4096,
                   help="largest image accepted, height x width pixels (default 16777216 = 4096 x 4096)")
    work = CaptionerLimits().max_decode_work
    p.add_argument("--max-decode-work", type=int, default=work,
                   help="most work decoding the image may cost, counted from its bytes before "
                        f"decoding (docs/security.md; default {work}, an export's default)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from kerasrnn.cli import run

    return run(lambda: caption(args), [])


def caption(args):
    from kerasrnn.errors import InputError
    from kerasrnn.files import write_problem_error

    if args.beam < 1:
        raise InputError(f"--beam must be >= 1 (1 is greedy), got {args.beam}")
    if not 1 <= args.beam <= 100 or not 1 <= (args.max_length or 1) <= 1000:
        raise InputError(f"--beam must be at most 100 and --max-length between 1 and 1000; got "
                         f"{args.beam} and {args.max_length}")
    for flag, value in (("--max-image-pixels", args.max_image_pixels), ("--max-decode-work", args.max_decode_work)):
        if value < 1:
            raise InputError(f"{flag} must be >= 1, got {value}")
    out = pathlib.Path(args.out or f"{pathlib.Path(args.image).stem if args.image else f'scene-{args.scene}'}-attention.png")
    if out.exists():
        raise InputError(f"--out {out} exists; choose another file name")
    if not out.parent.is_dir():
        raise InputError(f"--out {out}: folder {out.parent} does not exist")
    from kerasrnn.kinds.captioner.train import caption_images, example_images, test_split_example
    from kerasrnn.kinds.captioner.trained import load_captioner
    from kerasrnn.kinds.captioner.plots import plot_attention

    rows, labels, image = [], [], None
    for directory in args.model:
        model, vocab, config = load_captioner(directory)
        training = config["training"]
        if image is None:
            if args.image:
                from kerasrnn.data.image_files import read_image

                image = read_image(args.image, training["image_size"], max_image_pixels=args.max_image_pixels,
                                   max_decode_work=args.max_decode_work)
            else:
                example = test_split_example(training, args.scene)
                image = example_images([example], training["image_size"])[0]
                for reference in example.captions:
                    print(f"{reference}    [reference, test {training['dataset']} image {args.scene}]")
        elif image.shape[0] != training["image_size"]:
            raise InputError(f"{directory} reads {training['image_size']}-pixel images, the first "
                             f"--model {image.shape[0]}; compare models of one image size")
        max_words = (args.max_length or training["max_length"]) + 1
        caption = caption_images(model, vocab, image[None], max_words, args.beam)[0]
        words = vocab.decode(caption.tokens).split()
        rows.append((words, caption.alphas[: len(words)]))
        labels.append(f"{pathlib.Path(directory).name}: {training['attention']}")
        print(f"{' '.join(words)}    [{labels[-1]}; log-probability {caption.log_prob:.3f}, "
              f"{'greedy' if args.beam == 1 else f'beam {args.beam}'}]")
    try:
        plot_attention(image, rows, out, row_labels=labels)
    except OSError as e:
        raise write_problem_error(out, e, "free disk space or choose another --out") from None
    print(f"attention figure: {out}")


if __name__ == "__main__":
    sys.exit(main())
