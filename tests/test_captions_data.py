"""Caption datasets: generated and file-based sources behind `load_captions`, and the tf.data pipeline."""

import json
import os
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from kerasrnn.kinds.captioner.vocab import CaptionVocabulary, normalize_caption
from kerasrnn.kinds.captioner.captions import caption_dataset, load_captions, reference_captions
from kerasrnn.data.image_files import read_image
from kerasrnn.errors import InputError
from kerasrnn.kinds.captioner.regions import named_cells


# ----------------------------------------------------------------------------------- helpers


def _write_image(path, channels, size=(12, 10), fmt="png"):
    pixels = np.random.default_rng(len(str(path))).integers(0, 256, (*size, channels), dtype=np.uint8)
    encoded = tf.io.encode_png(pixels) if fmt == "png" else tf.io.encode_jpeg(pixels)
    path.write_bytes(encoded.numpy())


@pytest.fixture
def flickr(tmp_path):
    """A tiny Flickr8k folder: 4 train images (one missing on disk), 1 dev, 1 test."""
    images = tmp_path / "Flicker8k_Dataset"
    images.mkdir()
    _write_image(images / "a.jpg", 3, fmt="jpeg")
    _write_image(images / "b.jpg", 1)  # grayscale (a PNG under a .jpg name: decoded by content)
    _write_image(images / "c.png", 4)  # RGBA
    _write_image(images / "d.jpg", 3, fmt="jpeg")
    _write_image(images / "e.jpg", 3, fmt="jpeg")
    lines = []
    for name in ("a.jpg", "b.jpg", "c.png", "d.jpg", "e.jpg", "gone.jpg"):
        lines += [f"{name}#0\tA dog runs on the grass .", f"{name}#1\tThe {name[0]} thing , red !"]
    lines[2] = "b.jpg.1#0\tA grey picture ."  # the original file's "<name>.jpg.1" oddity
    (tmp_path / "Flickr8k.token.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "Flickr_8k.trainImages.txt").write_text("a.jpg\nb.jpg\ngone.jpg\nc.png\n")
    (tmp_path / "Flickr_8k.devImages.txt").write_text("d.jpg\n")
    (tmp_path / "Flickr_8k.testImages.txt").write_text("e.jpg\n")
    return tmp_path


def _coco_json(path, ids):
    images = [{"id": i, "file_name": f"{i:012d}.jpg", "height": 10, "width": 12} for i in ids]
    notes = [{"image_id": i, "id": 100 * i + k, "caption": f"A photo number {i}, take {k}."}
             for i in ids for k in range(2)]
    path.write_text(json.dumps({"info": {}, "images": images, "annotations": notes}))


@pytest.fixture
def coco(tmp_path):
    """A tiny COCO 2017 folder: 3 train images, 5 val images."""
    (tmp_path / "annotations").mkdir()
    for part, ids in (("train", [7, 3, 5]), ("val", [40, 10, 30, 20, 50])):
        _coco_json(tmp_path / "annotations" / f"captions_{part}2017.json", ids)
        (tmp_path / f"{part}2017").mkdir()
        for i in ids:
            _write_image(tmp_path / f"{part}2017" / f"{i:012d}.jpg", 3, fmt="jpeg")
    return tmp_path


# --------------------------------------------------------------------------- generated sets


def test_scenes_splits_are_deterministic_and_disjoint():
    splits = {s: load_captions("scenes", s, count=40, seed=1) for s in ("train", "val", "test")}
    again = load_captions("scenes", "train", count=40, seed=1)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(splits["train"], again))
    seen = {}
    for split, examples in splits.items():
        assert len(examples) == 40
        for e in examples:
            assert e.image.shape == (64, 64, 3) and e.image.dtype == np.uint8 and e.path is None
            assert len(e.captions) == 1 and e.captions[0] == normalize_caption(e.captions[0])
            assert len(e.boxes) == len(e.object_words) and e.boxes.shape[1] == 4
            for words in e.object_words:  # a colour and a shape word, both in the caption
                assert len(words) == 2 and words <= set(e.captions[0].split())
            seen.setdefault(e.image.tobytes(), set()).add(split)
    assert all(len(s) == 1 for s in seen.values())
    assert len(load_captions("scenes", "val")) == 500  # the default size


def test_digits_come_from_disjoint_mnist_parts(tmp_path):
    # Every fake digit is flat and has its own grey value, so a scene shows which ones it used.
    x_train = np.repeat(np.arange(1, 25, dtype=np.uint8), 28 * 28).reshape(24, 28, 28)
    x_test = np.repeat(np.arange(101, 113, dtype=np.uint8), 28 * 28).reshape(12, 28, 28)
    np.savez(tmp_path / "mnist.npz", x_train=x_train, y_train=np.arange(24, dtype=np.uint8) % 10,
             x_test=x_test, y_test=np.arange(12, dtype=np.uint8) % 10)
    used = {}
    for split in ("train", "val", "test"):
        examples = load_captions("digits", split, tmp_path / "mnist.npz", count=30)
        assert len(examples) == 30
        used[split] = set()
        for e in examples:
            words = e.captions[0].split()
            assert 2 <= len(words) <= 4 and e.object_words == [{w} for w in words]
            used[split] |= {int(e.image[y0, x0, 0]) for x0, y0, _, _ in e.boxes}
    assert used["train"] <= set(range(1, 23)) and used["val"] <= {23, 24}
    assert used["test"] <= set(range(101, 113))


# -------------------------------------------------------------------------------- image files


def test_read_image_makes_rgb_of_any_file(flickr):
    for name in ("a.jpg", "b.jpg", "c.png"):
        image = read_image(flickr / "Flicker8k_Dataset" / name, 16)
        assert image.shape == (16, 16, 3) and image.dtype == np.float32
        assert 0.0 <= image.min() and image.max() <= 1.0
    grey = read_image(flickr / "Flicker8k_Dataset" / "b.jpg", 16)
    assert np.allclose(grey[..., 0], grey[..., 2])


def test_read_image_names_a_bad_or_missing_file(tmp_path):
    (tmp_path / "notes.jpg").write_text("not a picture")
    with pytest.raises(InputError, match="notes.jpg"):
        read_image(tmp_path / "notes.jpg", 8)
    with pytest.raises(InputError, match="nothing.png"):
        read_image(tmp_path / "nothing.png", 8)


# ----------------------------------------------------------------------------------- Flickr8k


def test_flickr8k_loads_the_images_on_disk(flickr):
    train = load_captions("flickr8k", "train", flickr)
    assert [pathlib.Path(e.path).name for e in train] == ["a.jpg", "b.jpg", "c.png"]  # gone.jpg skipped
    assert train[0].captions == ["a dog runs on the grass", "the a thing red"]
    assert train[1].captions == ["a grey picture", "the b thing red"]  # ".jpg.1" read as ".jpg"
    assert all(e.image is None and e.boxes is None for e in train)
    assert [pathlib.Path(e.path).name for e in load_captions("flickr8k", "val", flickr)] == ["d.jpg"]
    assert len(load_captions("flickr8k", "train", flickr, count=2)) == 2
    assert reference_captions(train)[2] == train[2].captions


def test_flickr8k_malformed_line_names_file_and_line(flickr):
    tokens = flickr / "Flickr8k.token.txt"
    lines = tokens.read_text().splitlines()
    lines[4] = "c.png a caption without its number"
    tokens.write_text("\n".join(lines))
    with pytest.raises(InputError, match=r"Flickr8k\.token\.txt, line 5"):
        load_captions("flickr8k", "train", flickr)


def test_flickr8k_empty_split_is_an_error(flickr):
    (flickr / "Flickr_8k.testImages.txt").write_text("gone.jpg\n")
    with pytest.raises(InputError, match="testImages"):
        load_captions("flickr8k", "test", flickr)


def test_flickr8k_non_image_file_is_named(flickr):
    (flickr / "Flicker8k_Dataset" / "a.jpg").write_text("<html>404</html>")
    with pytest.raises(InputError, match="a.jpg"):
        load_captions("flickr8k", "train", flickr)


def test_missing_folder_or_file_is_an_error(flickr):
    with pytest.raises(InputError, match="does not exist"):
        load_captions("flickr8k", "train", flickr / "nope")
    (flickr / "Flickr_8k.devImages.txt").unlink()
    with pytest.raises(InputError, match="devImages"):
        load_captions("flickr8k", "val", flickr)
    with pytest.raises(InputError, match="unknown captioning dataset"):
        load_captions("imagenet", "train")
    with pytest.raises(InputError, match="unknown split"):
        load_captions("scenes", "dev")


# --------------------------------------------------------------------------------------- COCO


def test_coco_val_and_test_are_halves_of_val2017(coco):
    train = load_captions("coco", "train", coco)
    val, test = load_captions("coco", "val", coco), load_captions("coco", "test", coco)
    names = {s: [pathlib.Path(e.path).name[:-4].lstrip("0") for e in x]
             for s, x in (("train", train), ("val", val), ("test", test))}
    assert names == {"train": ["3", "5", "7"], "val": ["10", "20", "30"], "test": ["40", "50"]}
    assert train[0].captions == ["a photo number 3 take 0", "a photo number 3 take 1"]


def test_coco_bad_json_names_the_file(coco):
    path = coco / "annotations" / "captions_val2017.json"
    path.write_text(json.dumps({"images": [{"id": 1}], "annotations": []}))
    with pytest.raises(InputError, match="captions_val2017.json.*file_name"):
        load_captions("coco", "val", coco)
    path.write_text("{not json")
    with pytest.raises(InputError, match="captions_val2017.json"):
        load_captions("coco", "test", coco)


# ------------------------------------------------------------------------------- the pipeline


def test_caption_dataset_pairs_every_caption_with_its_image():
    examples = load_captions("scenes", "train", count=10)
    examples[0].captions.append("a second caption")
    vocab = CaptionVocabulary.from_captions([c for e in examples for c in e.captions])
    ds = caption_dataset(examples, vocab, 64, max_length=8, batch_size=4, shuffle=False)
    batches = list(ds)
    assert len(batches) == ds.cardinality() == 3
    (images, captions), targets, weights = batches[0]
    # the weights make the mean over all 4 x 9 targets the mean over the batch's real words
    real = captions.numpy()[:, 1:] != 0
    np.testing.assert_allclose(weights, real * 36.0 / real.sum(), rtol=1e-6)
    assert abs(float(np.sum(weights)) - 36) < 1e-4
    assert images.shape == (4, 64, 64, 3) and images.dtype == tf.float32
    assert captions.shape == (4, 10) and captions.dtype == tf.int32
    assert targets.shape == (4, 9) and targets.dtype == tf.int32
    np.testing.assert_array_equal(targets, captions[:, 1:])
    np.testing.assert_array_equal(captions[:2], vocab.encode(examples[0].captions, 8))
    np.testing.assert_allclose(images[1], examples[0].image / 255.0, atol=1e-6)
    np.testing.assert_allclose(images[2], examples[1].image / 255.0, atol=1e-6)


def test_caption_dataset_carries_each_target_words_region_for_attention_supervision(flickr):
    examples = load_captions("scenes", "train", count=6)
    vocab = CaptionVocabulary.from_captions([e.captions[0] for e in examples])
    ds = caption_dataset(examples, vocab, 64, max_length=8, batch_size=6, shuffle=False,
                         attention_cells=64)
    (_, captions), (targets, regions), (weights, ones) = next(iter(ds))
    assert weights.shape == (6, 9) and np.all(ones.numpy() == 1.0)
    np.testing.assert_array_equal(targets, captions[:, 1:])
    assert regions.shape == (6, 9, 64) and regions.dtype == tf.float32
    for example, caption_regions in zip(examples, regions.numpy()):
        words = example.captions[0].split()[:8]
        expected = named_cells(words, example.object_words, example.boxes, 64, 64)
        np.testing.assert_array_equal(caption_regions[: len(words)], expected)
        assert not caption_regions[len(words):].any()  # <end> and padding name nothing
        named = [w for w in words if any(w in names for names in example.object_words)]
        # every colour and shape word is supervised; "a", relations and <end> are not
        assert caption_regions.any(axis=1).sum() == len(named) > 0
    with pytest.raises(InputError, match="needs object boxes"):
        flickr_examples = load_captions("flickr8k", "train", flickr)
        caption_dataset(flickr_examples, vocab, 24, 6, batch_size=2, attention_cells=9)


def test_caption_dataset_order_follows_the_seed():
    examples = load_captions("scenes", "train", count=12)
    vocab = CaptionVocabulary.from_captions([e.captions[0] for e in examples])

    def order(seed):
        ds = caption_dataset(examples, vocab, 32, 8, batch_size=5, seed=seed)
        return np.concatenate([c.numpy() for (_, c), _, _ in ds])

    assert np.array_equal(order(1), order(1)) and not np.array_equal(order(1), order(2))
    expected = vocab.encode([e.captions[0] for e in examples], 8)
    assert sorted(map(tuple, order(1))) == sorted(map(tuple, expected))
    repeated = caption_dataset(examples, vocab, 32, 8, batch_size=5, repeat=True, drop_remainder=True)
    assert repeated.cardinality() == tf.data.INFINITE_CARDINALITY
    (images, _), _, _ = next(iter(repeated))
    assert images.shape == (5, 32, 32, 3)  # resized from the 64-pixel scenes


def test_caption_dataset_reads_image_files(flickr):
    examples = load_captions("flickr8k", "train", flickr)
    vocab = CaptionVocabulary.from_captions(reference_captions(examples)[0])
    (images, captions), targets, _ = next(iter(caption_dataset(examples, vocab, 24, 6, batch_size=6,
                                                               shuffle=False)))
    assert images.shape == (6, 24, 24, 3) and captions.shape == (6, 8) and targets.shape == (6, 7)
    np.testing.assert_allclose(images[0], read_image(examples[0].path, 24), atol=1e-6)
    np.testing.assert_allclose(images[5], read_image(examples[2].path, 24), atol=1e-6)


# ------------------------------------------------------------------------ real data (optional)


# KERASRNN_DATA: a folder holding `flickr8k_subset/` (Flickr8k laid out as published, with the
# images of its first 1000 file names in sorted order) and `coco_mini/` (COCO 2017 captions of
# 80 train and 79 val images); read by this test only.
@pytest.mark.skipif("KERASRNN_DATA" not in os.environ,
                    reason="set KERASRNN_DATA to a folder with flickr8k_subset/ and coco_mini/ to check them")
def test_real_flickr8k_subset_and_coco_mini():
    root = pathlib.Path(os.environ["KERASRNN_DATA"])
    counts = {s: len(load_captions("flickr8k", s, root / "flickr8k_subset"))
              for s in ("train", "val", "test")}
    assert counts == {"train": 753, "val": 113, "test": 125}
    coco = {s: load_captions("coco", s, root / "coco_mini") for s in ("train", "val", "test")}
    assert len(coco["train"]) == 80 and len(coco["val"]) + len(coco["test"]) == 79
    assert not {e.path for e in coco["val"]} & {e.path for e in coco["test"]}
    assert all(len(e.captions) >= 5 for split in coco.values() for e in split)


def test_caption_shards_are_the_global_batch_with_its_weights():
    examples = load_captions("scenes", "train", count=12)
    vocab = CaptionVocabulary.from_captions([e.captions[0] for e in examples])
    whole = list(caption_dataset(examples, vocab, 32, 8, batch_size=4, seed=3, drop_remainder=True))
    halves = [list(caption_dataset(examples, vocab, 32, 8, batch_size=4, seed=3, drop_remainder=True,
                                   shard=s, shards=2)) for s in range(2)]
    assert len(whole) == len(halves[0]) == 3
    for step, ((images, captions), targets, weights) in enumerate(whole):
        parts = [halves[s][step] for s in range(2)]
        np.testing.assert_array_equal(np.concatenate([p[0][1] for p in parts]), captions)
        np.testing.assert_allclose(np.concatenate([p[0][0] for p in parts]), images)
        # each shard's weights are normalised by the global batch's words, not its own
        np.testing.assert_allclose(np.concatenate([p[2] for p in parts]), weights, rtol=1e-6)
