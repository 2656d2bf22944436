#!/usr/bin/env python
"""Export a trained model to a TF Serving model directory and ONNX.

Example:
  python export/export_model.py --model runs/lstm --name shakespeare
  python export/verify.py saved_models/shakespeare/1

Writes saved_models/NAME/VERSION/ (the next free version unless --version is given; an
existing version is never overwritten, and a failed export leaves no half version):
  saved_model.pb, variables/         the SavedModel with its signatures
                                     (char model: generate (default), step;
                                      STN classifier: classify (default), rectify for ST-CNN;
                                      DRAW: generate (default), reconstruct)
  assets.extra/model_card.json       model config, vocabulary, training settings, metrics,
                                     export time, versions
  assets.extra/tf_serving_warmup_requests   if tensorflow-serving-api is installed
  onnx/                              char model: step.onnx + vocab.json;
                                     STN: classifier.onnx (+ rectifier.onnx for ST-CNN);
                                     DRAW: decoder_step.onnx + reconstruct_step.onnx + draw.json
Request limits (recorded in the model card under "limits" and in onnx/limits.json, checked by
every signature and the ONNX drivers before any work; a request over one fails with an
InvalidArgument error naming it). Defaults in brackets; see docs/security.md for what each costs
and the largest value each takes (a value outside its range is refused before anything is written):
  all kinds    --max-rows                rows (primes, images) per request [char 32, captioner 32, STN 256, DRAW 64]
  char model   --max-length              characters one row may generate [10000]
               --max-prime-length        characters (decoded code points) of one prime [10000]
               --max-prime-bytes         bytes of one prime's UTF-8, checked before decoding [40000]
               --max-request-chars       rows x (longest prime + longest length) [100000]
               --max-step-tokens         rows x tokens of one step request [8192]
  captioner    --max-image-bytes         bytes of one encoded image [8388608]
               --max-image-pixels        pixels an image header may claim [16777216]
               --image-formats           accepted formats, by magic bytes [jpeg,png,bmp]
               --max-beam-width          largest beam width [10]
               --max-length              tokens per caption, <end> included [trained length + 1]
TF Serving loads the SavedModel and assets.extra/ and ignores onnx/. Point it at the NAME folder
(it serves the highest version and picks up new ones as they appear):
  docker run -p 8501:8501 -v "$PWD/saved_models/NAME:/models/NAME" -e MODEL_NAME=NAME tensorflow/serving
  tensorflow_model_server --rest_api_port=8501 --model_name=NAME --model_base_path="$PWD/saved_models/NAME"
  curl -d '{"instances": [{"prime": "def ", "length": 200, "temperature": 0.8, "top_k": 20, "seed": 1}]}' \\
      localhost:8501/v1/models/NAME:predict
"""

import argparse
import sys

from kerasrnn.cli import quiet_tensorflow_logs  # noqa: E402

quiet_tensorflow_logs(__name__)  # before TensorFlow loads: its start-up lines out, its errors kept


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="trained model directory (a training script's --out)")
    p.add_argument("--name", required=True,
                   help="model name: the folder under --base, TF Serving's model name (at most "
                        "100 letters, digits, '_', '-', '.', starting with a letter or digit)")
    p.add_argument("--version",
                   help="integer version >= 1, digits 0-9 (default: one above the highest existing)")
    p.add_argument("--base", default="saved_models", help="models folder (default saved_models)")
    p.add_argument("--max-rows", type=int, help="rows (primes, images) per request")
    p.add_argument("--max-length", type=int,
                   help="char model: characters one row may generate; captioner: tokens per caption")
    p.add_argument("--max-prime-length", type=int, help="char model: characters of one prime")
    p.add_argument("--max-prime-bytes", type=int,
                   help="char model: bytes of one prime's UTF-8 encoding (checked before decoding)")
    p.add_argument("--max-request-chars", type=int,
                   help="char model: rows x (longest prime + longest length) of one request")
    p.add_argument("--max-step-tokens", type=int, help="char model: rows x tokens of one step request")
    p.add_argument("--max-image-bytes", type=int, help="captioner: bytes of one encoded image")
    p.add_argument("--max-image-pixels", type=int,
                   help="captioner: pixels an image's header may claim (checked before decoding)")
    p.add_argument("--image-formats", type=lambda text: tuple(text.lower().split(",")),
                   help="captioner: comma-separated formats accepted, of jpeg,png,bmp")
    p.add_argument("--max-beam-width", type=int, help="captioner: largest beam width")
    p.add_argument("--max-decode-work", type=int,
                   help="captioner: work decoding one image may cost, counted from its bytes")
    return p.parse_args(argv)


OPTIONS = ("max_rows", "max_length", "max_prime_length", "max_prime_bytes", "max_request_chars",
           "max_step_tokens", "max_image_bytes", "max_image_pixels", "image_formats", "max_beam_width",
           "max_decode_work")



def main(argv=None):
    args = parse_args(argv)
    from kerasrnn.cli import run

    return run(lambda: export(args), {**{n: "--" + n.replace("_", "-") for n in OPTIONS},
                                      "name": "--name", "version": "--version"})


def export(args):
    from kerasrnn.cli import format_limits
    from kerasrnn.export.version_dir import parse_version
    from kerasrnn.export.version_files import read_model_card
    from kerasrnn.kinds.registry import export_model

    options = {k: getattr(args, k) for k in OPTIONS if getattr(args, k) is not None}
    version = None if args.version is None else parse_version(args.version)
    path = export_model(args.model, args.base, args.name, version, **options)
    card = read_model_card(path)
    signatures = ", ".join(n for n in card["signatures"] if n != "serving_default")
    print(f"exported {card['kind']} model {args.model} as {args.name} version {card['version']}: {path}")
    print(f"  SavedModel signatures: {signatures} (serving_default = {card['default_signature']})")
    print(f"  ONNX (opset {card['onnx']['opset']}): {', '.join(card['onnx']['files'])}")
    print(f"  request limits: {format_limits(card['limits'])}")
    if not isinstance(card["warmup_requests"], int):
        print(f"  warm-up requests {card['warmup_requests']}")
    print(f"check it: python export/verify.py {path}")


if __name__ == "__main__":
    sys.exit(main())
