"""Captioned images for Show, Attend and Tell: four sources behind one interface.

`load_captions(dataset, split)` gives a list of `CaptionExample`s; `caption_dataset` turns them
into a `tf.data` pipeline of `((images, captions), targets)` batches.

| dataset | images | captions per image | boxes |
|---|---|---|---|
| `scenes` | shapes (`kerasrnn.kinds.captioner.scenes`), made in memory | 1: "a red circle above a blue square" | yes |
| `digits` | MNIST digits (`kerasrnn.kinds.captioner.digit_scenes`), made in memory | 1: "seven two nine" | yes |
| `flickr8k` | JPEG files, read in the pipeline | 5 | no |
| `coco` | JPEG files (COCO 2017 layout); or TFDS `coco_captions`, in memory | 5 or more | no |

Splits are `"train"`, `"val"` and `"test"`:

- `scenes`: three independent random streams (seed `3 * seed + 0, 1, 2`), 4000 / 500 / 500
  scenes by default.
- `digits`: train and val scenes use disjoint parts of MNIST's training digits (val: the last
  twelfth, 5000 of 60000), test scenes use MNIST's test digits; 4000 / 500 / 500 by default.
- `flickr8k`: the official `Flickr_8k.{train,dev,test}Images.txt` lists (val is dev). Listed
  images missing from the image folder are left out (a partial copy works).
- `coco` from a folder: train is `train2017`; val and test are the two halves of `val2017`'s
  captioned images in order of image id (val the first, larger half), since the Karpathy split
  is not part of the COCO files. From TFDS (no folder): its Karpathy-split `train`, `val`, `test`.

Image files are decoded once at load time, so a bad file is reported by name before training.
"""

import dataclasses
import json
import pathlib
import re

import numpy as np
import tensorflow as tf

from kerasrnn.kinds.captioner.vocab import normalize_caption
from kerasrnn.kinds.captioner.digit_scenes import digit_scenes
from kerasrnn.data.epochs import epoch_batches
from kerasrnn.data.image_files import check_images, load_image
from kerasrnn.data.mnist import load_mnist
from kerasrnn.kinds.captioner.scenes import captioned_scenes
from kerasrnn.errors import InputError
from kerasrnn.kinds.captioner.regions import named_cells

DATASETS = ("scenes", "digits", "flickr8k", "coco")
SPLITS = ("train", "val", "test")
GENERATED_COUNTS = {"train": 4000, "val": 500, "test": 500}
MNIST_VAL_PART = 12  # the last 1/12 of MNIST's training digits (5000 of 60000) draw the val scenes

FLICKR8K_TOKENS = "Flickr8k.token.txt"
FLICKR8K_SPLIT_FILES = {"train": "Flickr_8k.trainImages.txt", "val": "Flickr_8k.devImages.txt",
                        "test": "Flickr_8k.testImages.txt"}
FLICKR8K_IMAGE_DIRS = ("images", "Flicker8k_Dataset")  # the second is the official zip's name
_FLICKR8K_LAYOUT = (f"a Flickr8k folder holds {FLICKR8K_TOKENS}, the Flickr_8k.*Images.txt split "
                    f"lists and the JPEGs in {' or '.join(d + '/' for d in FLICKR8K_IMAGE_DIRS)}")
_TOKEN_LINE = re.compile(r"^(?P<image>[^#\s]+)#\d+\s+(?P<caption>\S.*)$")
# The original token file names one image "2258277193_586949ec62.jpg.1": read it as "....jpg".
_COPY_SUFFIX = re.compile(r"(\.(?:jpe?g|png))\.\d+$", re.IGNORECASE)

_COCO_LAYOUT = ("a COCO folder holds annotations/captions_{train,val}2017.json and the train2017/, "
                "val2017/ image folders")


@dataclasses.dataclass
class CaptionExample:
    """One image with its reference captions.

    Attributes:
        image: uint8 `(S, S, 3)` for images held in memory (generated sets, TFDS), else None.
        path: The image file for sets read from disk, else None.
        captions: The reference captions (at least one), normalised with `normalize_caption`.
        boxes: int `(n_objects, 4)`, `(x0, y0, x1, y1)` in pixels of the S x S image,
            end-exclusive, for generated sets; else None.
        object_words: For each object, the caption words that name it (`{"red", "circle"}`,
            `{"seven"}`), for generated sets; else None.
    """

    image: np.ndarray | None
    path: str | None
    captions: list[str]
    boxes: np.ndarray | None = None
    object_words: list[set[str]] | None = None


def load_captions(dataset, split, data_dir=None, image_size=64, count=None, seed=0):
    """Loads one split of a captioning dataset.

    Args:
        dataset: One of `DATASETS`.
        split: `"train"`, `"val"` or `"test"`.
        data_dir: `scenes`: unused. `digits`: MNIST as `load_mnist` takes it (a `mnist.npz`, a
            folder of idx files, or None to download). `flickr8k`: the Flickr8k folder.
            `coco`: the COCO 2017 folder, or None for TFDS `coco_captions` (downloads).
        image_size: Side S of generated (and TFDS) images; files are resized later, by
            `caption_dataset`.
        count: Number of examples: generated sets make this many (default
            `GENERATED_COUNTS[split]`), real sets keep the first `count`.
        seed: Seed of the generated sets.

    Returns:
        List of `CaptionExample`.

    Raises:
        InputError: Unknown dataset or split; missing, malformed or unreadable files (named,
            with the line number where there is one); a split with no images.
    """
    if dataset not in DATASETS:
        raise InputError(f"unknown captioning dataset {dataset!r}; use one of {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    if count is not None and count < 1:
        raise InputError(f"the number of examples must be at least 1, got {count}")
    if dataset == "scenes":
        scenes = captioned_scenes(count or GENERATED_COUNTS[split], seed=3 * seed + SPLITS.index(split),
                                  size=image_size)
        return [_generated_example(s) for s in scenes]
    if dataset == "digits":
        return _digits(data_dir, split, image_size, count or GENERATED_COUNTS[split], seed)
    if dataset == "coco" and data_dir is None:
        return _coco_tfds(split, image_size, count)
    if data_dir is None:
        raise InputError(f"{dataset} needs its data folder; {_FLICKR8K_LAYOUT}")
    root = pathlib.Path(data_dir)
    if not root.is_dir():
        raise InputError(f"data folder {root} does not exist or is not a folder; "
                         f"{_FLICKR8K_LAYOUT if dataset == 'flickr8k' else _COCO_LAYOUT}")
    examples = (_flickr8k(root, split) if dataset == "flickr8k" else _coco_files(root, split))
    examples = examples[:count]
    check_images([e.path for e in examples])
    return examples


def reference_captions(examples):
    """The reference captions of each example, for BLEU: list of lists of strings."""
    return [list(e.captions) for e in examples]


def caption_dataset(examples, vocab, image_size, max_length, batch_size, shuffle=True, seed=0,
                    repeat=False, drop_remainder=False, epoch=0, attention_cells=None, shard=0,
                    shards=1):
    """Batches of (image, caption) pairs for teacher-forced training.

    Every reference caption of an image makes one pair. With `shuffle`, epoch `e` visits the
    pairs in a permutation made from `(seed, e)`, so the order is the same on every run.
    Image files are read and resized inside the pipeline (in parallel); in-memory images are
    taken as they are (resized only if they are not S x S).

    Args:
        examples: List of `CaptionExample` (all from files, or all in memory).
        vocab: A `CaptionVocabulary`.
        image_size: Side S of the images fed to the model.
        max_length: Words kept per caption (see `CaptionVocabulary.encode`).
        batch_size: Pairs per batch B.
        shuffle: Visit the pairs in a fresh random order each epoch.
        seed: Integer seed of the order.
        repeat: Go on with new epochs forever (for `model.fit` with `steps_per_epoch`).
        drop_remainder: Drop each epoch's last, smaller batch.
        epoch: The first epoch to draw (a resumed run continues the order where it stopped).
        attention_cells: For attention supervision on sets with boxes: the number of cells L of
            the model's attention grid; the targets then also hold each target word's region.
        shard, shards: Read and decode only this replica's rows of each global batch of
            `batch_size` pairs (`kerasrnn.data.shards.shard_rows`); needs `drop_remainder`.

    Returns:
        `tf.data.Dataset` of `((images, captions), targets, word_weights)`: images float32
        `(B, S, S, 3)` in [0, 1]; captions int32 `(B, max_length + 2)`,
        `<start> w... <end> <pad>...`; targets int32 `(B, max_length + 1)`, `captions[:, 1:]`,
        or with `attention_cells` the pair `(captions[:, 1:], regions)`, regions float32
        `(B, max_length + 1, L)`: 1 on the cells whose centres lie in the box of the object
        target word t names (`caption_regions.named_cells`), all 0 for the other words.
        `word_weights` float32 `(B, max_length + 1)` are the sample weights that make a
        cross-entropy averaged over all `B x (max_length + 1)` targets the mean over the
        *global* batch's real (non-pad) words: `rows x (max_length + 1) / words` on a real
        word, 0 on padding, counted over the whole global batch (not this shard), so one
        process and many replicas train on the same loss. With attention supervision the
        weights are the pair `(word_weights, ones (B,))`.
    """
    if not examples:
        raise ValueError("`examples` is empty.")
    from_files = examples[0].path is not None
    if any((e.path is not None) != from_files or (e.path is None and e.image is None) for e in examples):
        raise ValueError("`examples` must all have an image file (`path`) or all an in-memory `image`.")
    if batch_size < 1:
        raise InputError(f"batch size must be at least 1, got {batch_size}")
    captions = [c for e in examples for c in e.captions]
    if drop_remainder and batch_size > len(captions):
        raise InputError(f"batch size {batch_size} is larger than the {len(captions)} captions and "
                         "drop_remainder is set, so no batch would be made; use a smaller batch size")
    owner = np.repeat(np.arange(len(examples)), [len(e.captions) for e in examples]).astype(np.int32)
    unique, inverse = np.unique(np.array(captions), return_inverse=True)  # encode each text once
    tokens = tf.constant(vocab.encode([str(c) for c in unique], max_length)[inverse.reshape(-1)])
    owner = tf.constant(owner)

    if from_files:
        paths = tf.constant([str(e.path) for e in examples])

        def image_of(i):
            return load_image(paths[i], image_size)
    else:
        bank = np.stack([e.image for e in examples])
        resize = bank.shape[1:3] != (image_size, image_size)
        bank = tf.constant(bank)

        def image_of(i):
            image = tf.cast(bank[i], tf.float32) / 255.0
            if resize:
                image = tf.image.resize(image, (image_size, image_size), antialias=True)
            return image

    n = len(captions)
    order_key = tf.constant([seed, 3], tf.int64)
    if attention_cells is not None:
        regions = tf.constant(_caption_regions(examples, max_length, attention_cells, image_size))

        def example(e, i):
            return image_of(owner[i]), tokens[i], regions[i]

        def pair_targets(images, caps, caption_regions, scale):
            weights = word_weights(caps, scale)
            return ((images, caps), (caps[:, 1:], tf.cast(caption_regions, tf.float32)),
                    (weights, tf.ones_like(weights[:, 0])))
    else:
        def example(e, i):
            return image_of(owner[i]), tokens[i]

        def pair_targets(images, caps, scale):
            return (images, caps), caps[:, 1:], word_weights(caps, scale)

    def word_weights(caps, scale):
        return tf.cast(caps[:, 1:] != 0, tf.float32) * scale

    def global_scale(rows):
        """rows x targets per caption / real target words, over the whole global batch."""
        words = tf.math.count_nonzero(tf.gather(tokens, rows)[:, 1:], dtype=tf.float32)
        targets = tf.cast(tf.size(rows) * (max_length + 1), tf.float32)
        return targets / tf.maximum(words, 1.0)

    return epoch_batches(n, example, batch_size, order_key, shuffle, epoch, repeat,
                         drop_remainder, finish_batch=pair_targets, shard=shard, shards=shards,
                         global_total=global_scale)


def _caption_regions(examples, max_length, num_cells, image_size):
    """Bool `(captions, max_length + 1, L)`: `caption_regions.named_cells` of every caption's first
    `max_length` words (the targets' `<end>` and padding name nothing)."""
    if any(e.boxes is None for e in examples):
        raise InputError("attention supervision needs object boxes, which only the generated "
                         "sets (scenes, digits) have")
    regions = []
    for e in examples:
        for caption in e.captions:
            cells = named_cells(caption.split()[:max_length], e.object_words, e.boxes, num_cells,
                                image_size)
            regions.append(np.pad(cells, ((0, max_length + 1 - len(cells)), (0, 0))))
    return np.stack(regions)


# --------------------------------------------------------------------------- generated sets


def _generated_example(scene):
    """A `Scene` or `DigitScene` as a `CaptionExample` (words grouped by the object they name)."""
    words = scene.caption.split()
    object_words = [{w for w, o in zip(words, scene.word_objects) if o == i}
                    for i in range(len(scene.boxes))]
    return CaptionExample(scene.image, None, [normalize_caption(scene.caption)],
                          np.asarray(scene.boxes), object_words)


def _digits(source, split, image_size, count, seed):
    (x_train, y_train), (x_test, y_test) = load_mnist(source)
    cut = len(x_train) - len(x_train) // MNIST_VAL_PART
    images, labels = {"train": (x_train[:cut], y_train[:cut]), "val": (x_train[cut:], y_train[cut:]),
                      "test": (x_test, y_test)}[split]
    if len(images) == 0:
        raise InputError(f"MNIST from {source} has too few digits for a {split} split; use the full MNIST")
    scenes = digit_scenes(images, labels, count, seed=3 * seed + SPLITS.index(split), size=image_size)
    return [_generated_example(s) for s in scenes]


# --------------------------------------------------------------------------------- Flickr8k


def _flickr8k(root, split):
    captions = _read_flickr8k_tokens(root / FLICKR8K_TOKENS)
    split_file = root / FLICKR8K_SPLIT_FILES[split]
    names = list(dict.fromkeys(_read_text(split_file, _FLICKR8K_LAYOUT).split()))
    folder = next((root / d for d in FLICKR8K_IMAGE_DIRS if (root / d).is_dir()), None)
    if folder is None:
        raise InputError(f"{root} has no image folder {' or '.join(FLICKR8K_IMAGE_DIRS)}; {_FLICKR8K_LAYOUT}")
    on_disk = {p.name for p in folder.iterdir()}
    kept = [n for n in names if n in on_disk and captions.get(n)]
    if not kept:
        raise InputError(f"none of the {len(names)} images listed in {split_file} is in {folder} "
                         f"with a caption in {FLICKR8K_TOKENS}; check the folder ({_FLICKR8K_LAYOUT})")
    return [CaptionExample(None, str(folder / n), captions[n]) for n in kept]


def _read_flickr8k_tokens(path):
    """`<image>#<n><TAB><caption>` lines -> {image file name: [normalised captions]}."""
    captions = {}
    for number, line in enumerate(_read_text(path, _FLICKR8K_LAYOUT).splitlines(), start=1):
        if not line.strip():
            continue
        match = _TOKEN_LINE.match(line.strip())
        if match is None:
            raise InputError(f"{path}, line {number}: expected '<image>#<n><TAB><caption>', got "
                             f"{line[:60]!r}; fix or delete the line")
        caption = normalize_caption(match["caption"])
        if caption:
            captions.setdefault(_COPY_SUFFIX.sub(r"\1", match["image"]), []).append(caption)
    return captions


def _read_text(path, layout):
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path} does not exist; {layout}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path} is not a readable UTF-8 text file ({type(e).__name__}); {layout}") from None


# ------------------------------------------------------------------------------------- COCO


def _coco_files(root, split):
    part = "train" if split == "train" else "val"
    annotations = root / "annotations" / f"captions_{part}2017.json"
    folder = root / f"{part}2017"
    files, captions = _read_coco_json(annotations)
    ids = sorted(i for i in files if captions.get(i))
    if split != "train":
        half = (len(ids) + 1) // 2
        ids = ids[:half] if split == "val" else ids[half:]
    on_disk = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    kept = [i for i in ids if files[i] in on_disk]
    if not kept:
        raise InputError(f"none of the {len(ids)} {split} images of {annotations} is in {folder}; "
                         f"{_COCO_LAYOUT}")
    return [CaptionExample(None, str(folder / files[i]), captions[i]) for i in kept]


def _read_coco_json(path):
    """A COCO captions JSON -> ({image id: file name}, {image id: [normalised captions]})."""
    try:
        data = json.loads(_read_text(path, _COCO_LAYOUT))
    except json.JSONDecodeError as e:
        raise InputError(f"{path} is not valid JSON (line {e.lineno}: {e.msg}); {_COCO_LAYOUT}") from None
    try:
        files = {int(image["id"]): str(image["file_name"]) for image in data["images"]}
        captions = {}
        for note in data["annotations"]:
            caption = normalize_caption(str(note["caption"]))
            if caption:
                captions.setdefault(int(note["image_id"]), []).append(caption)
    except (KeyError, TypeError, ValueError) as e:
        what = f"key {e}" if isinstance(e, KeyError) else type(e).__name__
        raise InputError(f"{path} is not a COCO captions file (missing or bad {what}; expected "
                         "'images' with 'id', 'file_name' and 'annotations' with 'image_id', "
                         f"'caption'); {_COCO_LAYOUT}") from None
    return files, captions


def _coco_tfds(split, image_size, count):
    """COCO from TFDS `coco_captions` (Karpathy split; downloads about 38 GB the first time).

    Images are resized to S x S and held in memory as uint8.
    """
    try:
        import tensorflow_datasets as tfds

        ds = tfds.load("coco_captions", split=split)
    except Exception as e:  # no TFDS, offline, or a failed download
        raise InputError(f"could not load TFDS coco_captions ({type(e).__name__}); give a COCO "
                         f"folder instead: {_COCO_LAYOUT}") from None
    if count is not None:
        ds = ds.take(count)
    ds = ds.map(lambda x: (tf.image.resize(x["image"], (image_size, image_size), antialias=True),
                           x["captions"]["text"]), num_parallel_calls=tf.data.AUTOTUNE)
    return [CaptionExample(np.clip(np.rint(image), 0, 255).astype(np.uint8), None,
                           [normalize_caption(t.decode()) for t in texts])
            for image, texts in ds.as_numpy_iterator()]
