"""Training and scoring the Show-Attend-Tell captioner with `model.fit`: the logic behind
train_captioner.py.

A run builds the vocabulary from the training captions (saved as `vocab.json`), trains the
teacher-forced model on every (image, reference caption) pair, then captions the test images
greedily and with beam search and scores them: corpus BLEU-1..4 (`kerasrnn.kinds.captioner.metrics`), exact
captions (the share of images whose caption is one of its references) and, on the generated
sets that know where each object is, attention localisation.
"""

import dataclasses

import keras
import numpy as np

from kerasrnn import run_dir
from kerasrnn.config_checks import keras_accumulation
from kerasrnn.data.image_files import read_image
from kerasrnn.errors import InputError
from kerasrnn.kinds.captioner import metrics as scores
from kerasrnn.kinds.captioner.attention_correctness import attention_correctness_loss
from kerasrnn.kinds.captioner.beam_search_numpy import LENGTH_PENALTY
from kerasrnn.kinds.captioner.captions import caption_dataset, load_captions, reference_captions
from kerasrnn.kinds.captioner.config import (CAPTIONER_ASSUMED_VOCAB, KIND as CAPTIONER, RESUMABLE,
                                            RUN_FORMAT, CaptionerConfig)
from kerasrnn.kinds.captioner.model import beam_search_batch, greedy_decode
from kerasrnn.kinds.captioner.trained import load_captioner
from kerasrnn.kinds.captioner.vocab import END, START, CaptionVocabulary
from kerasrnn.train.distribution import replica_sum
from kerasrnn.train.loop import Data, Schedule, Task, train

KIND = CAPTIONER


def load_splits(config):
    """The train / val / test `CaptionExample` lists of `config.dataset`."""
    counts = {"train": config.train_count, "val": config.test_count, "test": config.test_count}
    return {split: load_captions(config.dataset, split, config.data_dir, config.image_size,
                                 count=counts[split], seed=config.seed)
            for split in ("train", "val", "test")}


def example_images(examples, image_size):
    """The examples' images as float32 `(N, S, S, 3)` in [0, 1]."""
    return np.stack([ex.image.astype(np.float32) / 255.0 if ex.image is not None
                     else read_image(ex.path, image_size) for ex in examples])


def compile_model(model, config, steps_per_epoch=None):
    """Adam with gradient clipping; cross-entropy over the non-pad target words, plus, with
    `config.attention_supervision`, that weight times `attention_correctness_loss` on the
    attention maps (the targets then carry the regions: `caption_dataset(attention_cells=L)`).

    The cross-entropy is averaged over the real words of the whole global batch through the
    sample weights `caption_dataset` yields (0 on padding), so it is the same loss on one
    replica or many.

    `steps_per_epoch` is needed for `lr_decay="cosine"` (the schedule spans all epochs).
    """
    lr = config.learning_rate
    accumulation = config.gradient_accumulation_steps
    if config.lr_decay == "cosine" and steps_per_epoch:  # the schedule counts weight updates
        lr = keras.optimizers.schedules.CosineDecay(
            lr, config.epochs * steps_per_epoch // accumulation, alpha=0.01)
    words = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    supervised = bool(config.attention_supervision)
    optimizer = keras.optimizers.Adam(
        lr, clipnorm=5.0, gradient_accumulation_steps=keras_accumulation(accumulation))
    model.compile(optimizer=optimizer,
                  loss=[words, attention_correctness_loss if supervised else None],
                  loss_weights=[1.0, config.attention_supervision] if supervised else None)
    return model


class CaptionerTask(Task):
    """The captioner's part of `kerasrnn.train.loop.train`: counted in epochs over every
    (image, reference caption) pair, the vocabulary from the training captions (or the run
    resumed), scored after training by greedy and beam-search captions of the test split."""

    run_format = RUN_FORMAT
    resumable = RESUMABLE

    def read_run(self, config, saved, out_dir):
        self.resumed = None if saved is None else out_dir  # its vocabulary is read after validate

    def validate(self, config, allow_large, replicas):
        self.allow_large = allow_large  # the vocabulary, read later, is assumed this large:
        config.validate(CAPTIONER_ASSUMED_VOCAB, allow_large, replicas=replicas)

    def schedule(self, config, distribution):
        self.splits = load_splits(config)
        if self.resumed is None:
            self.vocab = CaptionVocabulary.from_captions(
                [c for ex in self.splits["train"] for c in ex.captions], config.min_count)
        else:
            self.vocab = CaptionVocabulary.load(self.resumed)
        if len(self.vocab) > CAPTIONER_ASSUMED_VOCAB:  # the memory estimate, with the real size
            config.validate(len(self.vocab), self.allow_large, replicas=distribution.replicas)
        batch = config.batch_size
        pairs = sum(len(ex.captions) for ex in self.splits["train"])
        if pairs < batch:
            raise InputError(f"the {config.dataset} training split has {pairs} captions, fewer "
                             f"than one batch of {batch}; lower batch_size")
        self.val_pairs = sum(len(ex.captions) for ex in self.splits["val"])
        if distribution.replicas > 1 and self.val_pairs < batch:
            raise InputError(f"the {config.dataset} validation split has {self.val_pairs} "
                             f"captions, fewer than one global batch of {batch}; with several "
                             "replicas validation runs on whole batches: lower batch_size")
        self.steps_per_epoch = pairs // batch
        return Schedule(self.steps_per_epoch, config.epochs, config.epochs * self.steps_per_epoch)

    def build(self, config, distribution):
        model = compile_model(config.build_model(len(self.vocab)), config, self.steps_per_epoch)
        if distribution.replicas > 1:  # hard attention's REINFORCE term over the global batch
            model.get_layer("decoder").replica_sum = replica_sum
        return model

    def datasets(self, config, distribution, start, model):
        cells = model.outputs[1].shape[-1] if config.attention_supervision else None
        size, length, batch = config.image_size, config.max_length, config.batch_size
        whole_batches = distribution.replicas > 1
        train_ds = distribution.dataset(lambda shard, shards: caption_dataset(
            self.splits["train"], self.vocab, size, length, batch, shuffle=True, seed=config.seed,
            repeat=True, drop_remainder=True, epoch=start.epoch, attention_cells=cells,
            shard=shard, shards=shards).skip(start.skip))
        val_ds = distribution.dataset(lambda shard, shards: caption_dataset(
            self.splits["val"], self.vocab, size, length, batch, shuffle=False,
            drop_remainder=whole_batches, attention_cells=cells, shard=shard, shards=shards))
        return Data(train_ds, val_ds, self.val_pairs // batch if whole_batches else None)

    def write_run(self, out_dir, config):
        self.vocab.save(out_dir)
        run_dir.write_run_config(out_dir, KIND, config.model_config(len(self.vocab)),
                                 dataclasses.asdict(config))

    def final_model(self, config, model, distribution):
        if distribution.name == "off":
            return model
        final = config.build_model(len(self.vocab))  # scored and saved outside the strategy
        final.set_weights(model.get_weights())
        return compile_model(final, config, self.steps_per_epoch)

    def metrics(self, config, fitted, final, distribution):
        if not distribution.is_chief:
            return {"steps": fitted.steps, "history": fitted.history}
        results = evaluate_captioner(final, self.vocab, self.splits["test"], config)
        h, common = fitted.history, fitted.common_metrics(final)
        return {
            **results,
            "train_loss": common.pop("train_loss"),
            "val_loss": h["val_loss"][-1] if h.get("val_loss") else None,
            "epochs": common.pop("epochs"),
            "steps": common.pop("steps"),
            "captions_per_second_training": fitted.per_second,
            "train_seconds": common.pop("train_seconds"),
            "stopped_by_time_limit": common.pop("stopped_by_time_limit"),
            "train_images": len(self.splits["train"]),
            "test_images": len(self.splits["test"]),
            "vocab_size": len(self.vocab),
            "beam_width": config.beam_width,
            **common,
        }


def train_captioner(config, out_dir, resume=False, max_seconds=None, verbose=1, extra_callbacks=(),
                    allow_large=False, distribution=None):
    """Trains a captioner and writes the run directory `out_dir` (model, vocab, metrics).

    Every setting is checked before anything is written.

    Args:
        config: `CaptionerConfig` (`config.py`). When resuming, `epochs` and
            `learning_rate` may differ from the saved run's (the new ones are used and recorded
            in `config.json`); any other setting that differs is refused. To resume giving only
            some settings, pass a dict of them (e.g. `{"epochs": 20}`); the rest come from the
            run.
        out_dir: Directory to write (see `kerasrnn.run_dir`).
        resume: Continue the run in `out_dir` from its last per-epoch backup.
        max_seconds: Stop after this much wall time (checked after each step); `None` or > 0.
        verbose: Keras progress bar setting.
        extra_callbacks: More Keras callbacks for `fit`.
        allow_large: Allow models, batches or generated sets above `config_checks.LARGE_BYTES`.
        distribution: A `kerasrnn.train.distribution.Distribution` (default: one process).
            `config.batch_size` is the global batch, split over its replicas; each replica
            reads and decodes only its own images. With several replicas validation runs on
            whole global batches and the chief scores the test split alone; hard attention's
            REINFORCE term and baseline are those of the global batch (each replica samples its
            own captions' locations). Only the chief writes the run
            directory, other workers only their backups (`worker-<i>/`).

    Returns:
        The metrics dict also written to `out_dir/metrics.json`; its `history` covers every
        epoch of the run, resumed ones included.

    Raises:
        InputError: A bad setting (before anything is written), or training diverged.
    """
    return train(CaptionerTask(), config, out_dir, resume=resume, distribution=distribution,
                 max_seconds=max_seconds, allow_large=allow_large, verbose=verbose,
                 extra_callbacks=extra_callbacks)


def caption_images(model, vocab, images, max_length, beam_width=1, batch_size=64,
                   length_penalty=LENGTH_PENALTY):
    """Captions images greedily (`beam_width=1`) or with beam search: a list of `Caption`s."""
    start, end = vocab.id(START), vocab.id(END)
    if beam_width == 1:
        def decode(batch):
            return greedy_decode(model, batch, start, end, max_length, length_penalty)
    else:
        def decode(batch):
            return beam_search_batch(model, batch, start, end, max_length, beam_width, length_penalty)
    return [c for i in range(0, len(images), batch_size) for c in decode(images[i : i + batch_size])]


def evaluate_captioner(model, vocab, examples, config, length_penalty=LENGTH_PENALTY):
    """Scores greedy and beam-search captions of `examples` (the test split); `length_penalty`
    is the beam search's alpha.

    Returns:
        dict with `bleu1`..`bleu4` (greedy), `beam_bleu1`..`beam_bleu4` (beam
        `config.beam_width`), `exact_caption_pct` and `beam_exact_caption_pct` (share of images
        whose caption equals one of its references), and on generated sets `localization_pct`,
        `localization_chance_pct`, `localization_words`, and the lenient
        `localization_on_object_pct` (peak cell overlaps the object) with its chance level,
        `localization_on_other_object_pct` (peak cell overlaps only objects the word does not
        name), `localization_centre_pct` (the map's attention-weighted centre lies in the box),
        `localization_edge_weight_ratio` (mean attention on a cell straddling the named box's
        edge over that on a cell wholly inside it),
        `localization_by_word_pct` (per naming word, e.g. each colour and shape),
        `localization_by_object_count_pct` (per number of objects in the image, keys "1",
        "2", ...) and `localization_miss_sides_pct` (where the misses' peaks lie: the share
        beyond each side of the named box);
        `samples`: a few captions.
    """
    if not examples:
        raise InputError("the test split is empty; nothing to score")
    images = example_images(examples, config.image_size)
    references = reference_captions(examples)
    max_words = config.max_length + 1  # the words and <end>
    results = {}
    for prefix, width in (("", 1), ("beam_", config.beam_width)):
        captions = caption_images(model, vocab, images, max_words, width,
                                  length_penalty=length_penalty)
        texts = [vocab.decode(c.tokens) for c in captions]
        results.update({prefix + k: v for k, v in scores.corpus_bleu(references, texts).items()})
        exact = [t in refs for t, refs in zip(texts, references)]
        results[prefix + "exact_caption_pct"] = 100.0 * float(np.mean(exact))
        if prefix == "":
            greedy = (captions, texts)
    captions, texts = greedy
    if examples[0].boxes is not None:
        local = scores.localization_score(
            [c.alphas[: len(t.split())] for c, t in zip(captions, texts)], [t.split() for t in texts],
            [ex.object_words for ex in examples], [ex.boxes for ex in examples], config.image_size)
        results["localization_pct"] = 100.0 * local["localization"]
        results["localization_chance_pct"] = 100.0 * local["chance"]
        results["localization_words"] = local["words"]
        results["localization_on_object_pct"] = 100.0 * local["on_object"]
        results["localization_on_object_chance_pct"] = 100.0 * local["on_object_chance"]
        results["localization_on_other_object_pct"] = 100.0 * local["on_other_object"]
        results["localization_centre_pct"] = 100.0 * local["centre"]
        results["localization_edge_weight_ratio"] = local["edge_weight_ratio"]
        results["localization_by_word_pct"] = {w: 100.0 * v for w, v in local["by_word"].items()}
        results["localization_by_object_count_pct"] = {
            str(n): 100.0 * v for n, v in local["by_object_count"].items()}
        results["localization_miss_sides_pct"] = {
            side: 100.0 * v for side, v in local["miss_sides"].items()}
    results["samples"] = [{"caption": t, "references": refs[:2]}
                          for t, refs in zip(texts[:5], references[:5])]
    return results


def test_split_example(training_config, index):
    """Test example `index` of the generated dataset a run was trained on (scenes, digits)."""
    config = CaptionerConfig(**training_config)
    if config.dataset not in ("scenes", "digits"):
        raise InputError(f"the model was trained on {config.dataset}, not a generated set; "
                         "caption an image file instead")
    examples = load_captions(config.dataset, "test", config.data_dir, config.image_size,
                             count=config.test_count, seed=config.seed)
    if not 0 <= index < len(examples):
        raise InputError(f"test image {index} is outside the {len(examples)} test images "
                         f"(0 to {len(examples) - 1})")
    return examples[index]


def evaluate_run(directory, beam_width=None, length_penalty=LENGTH_PENALTY, split="test"):
    """Scores a finished run again (`evaluate_captioner`), e.g. after a decoding fix.

    Args:
        directory: A finished captioner run.
        beam_width: Overrides the beam width the run reports beside greedy.
        length_penalty: The beam search's alpha.
        split: `"test"`, or `"val"` to choose decoding settings without touching the test split.

    Returns:
        The results dict of `evaluate_captioner`.
    """
    if beam_width is not None and beam_width < 1:
        raise InputError(f"beam_width must be >= 1, got {beam_width}")
    if split not in ("val", "test"):
        raise InputError(f"split must be val or test, got {split!r}")
    if length_penalty < 0:
        raise InputError(f"length_penalty must be >= 0, got {length_penalty}")
    model, vocab, saved = load_captioner(directory)
    config = CaptionerConfig(**saved["training"])
    if beam_width is not None:
        config.beam_width = beam_width
    examples = load_captions(config.dataset, split, config.data_dir, config.image_size,
                             count=config.test_count, seed=config.seed)
    return evaluate_captioner(model, vocab, examples, config, length_penalty)
