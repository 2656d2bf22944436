"""Captioner training run on tiny generated scenes: metrics, files, resume, refusals, the scripts."""

import json
import math

import numpy as np
import pytest

from kerasrnn.kinds.captioner import scenes
from kerasrnn.errors import InputError
from kerasrnn.kinds.captioner.captions import caption_dataset
from kerasrnn.kinds.captioner.attention_correctness import attention_correctness_loss
from kerasrnn.kinds.captioner.train import load_splits, train_captioner
from kerasrnn.kinds.captioner.trained import load_captioner
from kerasrnn.kinds.captioner.config import CaptionerConfig
from script_runs import script_main

TINY = dict(dataset="scenes", image_size=32, max_length=8, embedding_dim=16, units=32,
            attention_units=16, epochs=3, batch_size=16, train_count=192, test_count=8,
            learning_rate=1e-2)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cap") / "run"
    return out, train_captioner(CaptionerConfig(**TINY), out, verbose=0)


def test_training_lowers_the_loss_and_scores_the_test_split(run):
    out, m = run
    losses = m["history"]["loss"]
    assert m["epochs"] == 3 and losses[-1] < 0.8 * losses[0]
    for prefix in ("", "beam_"):
        bleu = [m[f"{prefix}bleu{n}"] for n in range(1, 5)]
        assert all(0.0 <= b <= 1.0 for b in bleu) and bleu[0] >= bleu[3]
        assert 0.0 <= m[f"{prefix}exact_caption_pct"] <= 100.0
    assert m["localization_words"] > 0 and 0 <= m["localization_pct"] <= 100
    assert 0 < m["localization_chance_pct"] < 50  # an object covers a small part of the grid
    by_word = m["localization_by_word_pct"]  # only colour and shape words name objects
    assert by_word and set(by_word) <= {*scenes.COLORS, *scenes.SHAPES}
    assert all(0.0 <= v <= 100.0 for v in by_word.values())
    by_count = m["localization_by_object_count_pct"]  # scenes hold 1 or 2 objects
    assert by_count and set(by_count) <= {"1", "2"}
    # the overall score is a mean of the groups' scores weighted by their words
    assert min(by_count.values()) - 1e-9 <= m["localization_pct"] <= max(by_count.values()) + 1e-9
    # a peak cell overlaps the named object, only another one, or neither: disjoint shares
    assert 0 <= m["localization_on_other_object_pct"] <= 100 - m["localization_on_object_pct"] + 1e-9
    assert 0 <= m["localization_centre_pct"] <= 100
    # 7-12 pixel boxes on 8-pixel cells seldom hold a whole cell, where the ratio is undefined
    ratio = m["localization_edge_weight_ratio"]
    assert math.isnan(ratio) or ratio >= 0
    for key in ("localization_on_other_object_pct", "localization_centre_pct"):  # shares of the words
        counted = m[key] / 100 * m["localization_words"]
        assert counted == pytest.approx(round(counted), abs=1e-6)
    sides = m["localization_miss_sides_pct"]  # every miss lies beyond at least one side
    assert m["localization_pct"] == 100 or (set(sides) == {"left", "right", "above", "below"}
                                            and 100 <= sum(sides.values()) <= 200)
    assert m["test_images"] == 8 and m["vocab_size"] > 4
    for name in ("model.keras", "vocab.json", "config.json", "metrics.json"):
        assert (out / name).is_file()
    assert json.loads((out / "metrics.json").read_text())["bleu1"] == m["bleu1"]


def test_the_saved_run_loads_and_captions(run):
    out, m = run
    model, vocab, config = load_captioner(out)
    assert config["training"]["dataset"] == "scenes" and len(vocab) == m["vocab_size"]
    logits, alphas = model([np.zeros((1, 32, 32, 3), "float32"), np.zeros((1, 10), "int32")])
    assert tuple(logits.shape) == (1, 9, len(vocab)) and tuple(alphas.shape) == (1, 9, 16)


def test_never_overwrites_and_resume_extends(run, tmp_path):
    out, _ = run
    with pytest.raises(InputError, match="already holds files"):
        train_captioner(CaptionerConfig(**TINY), out, verbose=0)
    with pytest.raises(InputError, match="already trained 3 epochs"):
        train_captioner(CaptionerConfig(**TINY), out, resume=True, verbose=0)
    with pytest.raises(InputError, match="no run to resume"):
        train_captioner(CaptionerConfig(**TINY), tmp_path / "none", resume=True, verbose=0)


@pytest.mark.parametrize("field,value,message", [
    ("dataset", "imagenet", "dataset must be one of"),
    ("cell", "rnn", "cell must be one of"),
    ("attention", "medium", "attention must be one of"),
    ("beam_width", 0, "beam_width must be between 1 and 100"),
    ("lr_decay", "linear", "lr_decay must be one of none, cosine"),
    ("encoder_kernels", (3, 3), "encoder_kernels must be three sizes"),
    ("encoder_poolings", ("max", "max", "min"), "encoder_poolings must be three of"),
    ("coordinates", "polar", "coordinates must be one of cell, centroid, none"),
    ("attention_supervision", -1.0, "attention_supervision must be >= 0"),
])
def test_bad_settings_are_refused(field, value, message, tmp_path):
    with pytest.raises(InputError, match=message):
        train_captioner(CaptionerConfig(**{**TINY, field: value}), tmp_path / "x", verbose=0)
    assert not (tmp_path / "x").exists()


def test_attention_supervision_needs_a_set_with_boxes(tmp_path):
    config = CaptionerConfig(**{**TINY, "dataset": "flickr8k", "attention_supervision": 1.0})
    with pytest.raises(InputError, match="needs object boxes, which only scenes and digits have"):
        train_captioner(config, tmp_path / "x", verbose=0)
    assert not (tmp_path / "x").exists()


def _script(name, argv, capsys):
    code = script_main(f"training/{name}")(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_caption_image_prints_a_caption_and_writes_the_figure(run, tmp_path, capsys):
    out, _ = run
    png = tmp_path / "attention.png"
    code, stdout, _ = _script("caption_image.py", ["--model", str(out), "--model", str(out),
                                                   "--scene", "0", "--beam", "2", "--out", str(png)],
                              capsys)
    assert code == 0 and png.stat().st_size > 1000 and "attention figure" in stdout
    lines = stdout.strip().splitlines()
    assert len(lines) == 4  # the scene's reference caption, one caption per --model, the figure
    assert lines[0].endswith("    [reference, test scenes image 0]") and len(lines[0].split()) >= 6


@pytest.mark.parametrize("extra,message", [
    (["--scene", "0", "--beam", "0"], "--beam must be >= 1"),
    (["--scene", "99"], "outside the 8 test images"),
    (["--image", "NOT_AN_IMAGE"], "not_an_image.txt"),
])
def test_caption_image_bad_input(run, tmp_path, capsys, extra, message):
    out, _ = run
    bad = tmp_path / "not_an_image.txt"
    bad.write_text("hello")
    extra = [str(bad) if e == "NOT_AN_IMAGE" else e for e in extra]
    code, _, err = _script("caption_image.py", ["--model", str(out), *extra,
                                                "--out", str(tmp_path / "a.png")], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "a.png").exists()


def test_train_script_refuses_bad_flags_in_one_line(tmp_path, capsys):
    code, _, err = _script("train_captioner.py", ["--dataset", "imagenet", "--out", str(tmp_path / "r")],
                           capsys)
    assert code == 2 and err.startswith("error: --dataset must be one of") and len(err.strip().splitlines()) == 1
    code, _, err = _script("train_captioner.py", ["--coordinates", "polar", "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and err.startswith("error: --coordinates must be one of cell, centroid, none")
    assert not (tmp_path / "r").exists()


def test_evaluate_script_scores_the_run_again_as_training_did(run, tmp_path, capsys):
    out, m = run
    report = tmp_path / "eval.json"
    code, stdout, _ = _script("evaluate_captioner.py", ["--model", str(out), "--out", str(report)],
                              capsys)
    again = json.loads(report.read_text())
    assert code == 0 and json.loads(stdout)["bleu4"] == pytest.approx(m["bleu4"])
    for key in ("bleu1", "beam_bleu4", "exact_caption_pct", "localization_pct"):
        assert again[key] == pytest.approx(m[key])
    code, _, err = _script("evaluate_captioner.py", ["--model", str(out), "--out", str(report)], capsys)
    assert code == 2 and "exists" in err and json.loads(report.read_text()) == again
    for bad, message in ((["--beam", "0"], "--beam must be >= 1"), (["--split", "train"], "--split must be"),
                         (["--length-penalty", "-1"], "--length-penalty must be >= 0")):
        code, _, err = _script("evaluate_captioner.py", ["--model", str(out), *bad], capsys)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_evaluate_script_scores_the_validation_split_with_a_length_penalty(run, capsys):
    out, m = run
    code, stdout, _ = _script("evaluate_captioner.py", ["--model", str(out), "--split", "val",
                                                        "--length-penalty", "0.7"], capsys)
    val = json.loads(stdout)
    assert code == 0 and val["localization_words"] > 0 and 0.0 <= val["beam_bleu4"] <= 1.0


def test_average_pooling_encoder_trains(tmp_path):
    config = CaptionerConfig(**{**TINY, "epochs": 1, "encoder_poolings": ("max", "max", "average")})
    m = train_captioner(config, tmp_path / "avg", verbose=0)
    model, _, saved = load_captioner(tmp_path / "avg")
    assert saved["training"]["encoder_poolings"] == ["max", "max", "average"]
    pools = [type(layer).__name__ for layer in model.get_layer("encoder").layers if "Pool" in type(layer).__name__]
    assert pools == ["MaxPooling2D", "MaxPooling2D", "AveragePooling2D"] and m["epochs"] == 1


def _region_loss(directory):
    """Mean `attention_correctness_loss` of a run's teacher-forced maps on its test scenes."""
    model, vocab, saved = load_captioner(directory)
    config = CaptionerConfig(**saved["training"])
    examples = load_splits(config)["test"]
    ds = caption_dataset(examples, vocab, config.image_size, config.max_length, 8, shuffle=False,
                         attention_cells=model.outputs[1].shape[-1])
    losses = [attention_correctness_loss(regions, model(inputs)[1]) for inputs, (_, regions), _ in ds]
    return float(np.mean(np.concatenate(losses)))


def test_attention_supervision_pulls_the_maps_into_the_named_boxes(run, tmp_path):
    out, plain = run
    config = CaptionerConfig(**{**TINY, "attention_supervision": 1.0})
    supervised = train_captioner(config, tmp_path / "sup", verbose=0)
    _, _, saved = load_captioner(tmp_path / "sup")
    assert saved["training"]["attention_supervision"] == 1.0
    # the same seed and data without the loss (the module's run) leaves far less mass in the boxes
    assert _region_loss(tmp_path / "sup") < 0.5 * _region_loss(out)
    assert supervised["localization_pct"] > plain["localization_pct"]
