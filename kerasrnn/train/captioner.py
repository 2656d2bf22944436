"""Training and scoring the Show-Attend-Tell captioner with `model.fit`: the logic behind
train_captioner.py.

A run builds the vocabulary from the training captions (saved as `vocab.json`), trains the
teacher-forced model on every (image, reference caption) pair, then captions the test images
greedily and with beam search and scores them: corpus BLEU-1..4 (`kerasrnn.metrics`), exact
captions (the share of images whose caption is one of its references) and, on the generated
sets that know where each object is, attention localisation.
"""

import dataclasses
import pathlib

import keras
import numpy as np

from kerasrnn import metrics as scores
from kerasrnn import run_dir
from kerasrnn.data.caption_vocab import END, START, CaptionVocabulary
from kerasrnn.data.captions import (
    DATASETS,
    GENERATED_COUNTS,
    caption_dataset,
    load_captions,
    reference_captions,
)
from kerasrnn.data.image_files import read_image
from kerasrnn.errors import InputError
from kerasrnn.layers.attention_decoder import ATTENTIONS, CELLS
from kerasrnn.models.beam_search_numpy import LENGTH_PENALTY
from kerasrnn.models.captioner import (
    POOLINGS,
    applications_encoder,
    beam_search_batch,
    build_captioner,
    coordinates_option,
    greedy_decode,
    small_cnn_encoder,
)
from kerasrnn.train.attention_correctness import attention_correctness_loss
from kerasrnn.train import checks
from kerasrnn.train.callbacks import StopAfterSteps, Throughput, run_callbacks
from kerasrnn.trained_runs import CAPTIONER, load_captioner

KIND = CAPTIONER
BOXED_DATASETS = ("scenes", "digits")  # the generated sets, which record every object's box
RESUMABLE = ("epochs", "learning_rate")
MAX_BEAM_WIDTH = 100  # as caption_image.py --beam
ASSUMED_VOCAB = 10_000  # vocabulary size for memory estimates before the captions are read
DECODER_GATES = {"vanilla": 1, "gru": 3, "lstm": 4}
ENCODER_FLOATS_PER_PIXEL = 64  # the small encoder's feature maps and their pools, per input pixel


@dataclasses.dataclass
class CaptionerConfig:
    """Everything a captioning run depends on (saved in `config.json`)."""

    dataset: str = "scenes"
    data_dir: str | None = None
    image_size: int = 64
    max_length: int = 16  # words per caption; longer captions are cut
    min_count: int = 1  # rarer training words become <unk>
    cell: str = "lstm"
    attention: str = "soft"
    encoder: str = "small"  # "small" (a CNN trained from scratch) or a keras.applications name
    encoder_weights: str | None = None  # applications only: None, "imagenet" or a weights file
    encoder_layer: str | None = None  # applications only: the layer whose grid is attended over
    coordinates: str = "cell"  # position in each annotation: "cell", "centroid" or "none"
    encoder_kernels: tuple = (3, 3, 1)  # small encoder: kernel size of each conv + 2x2 pool
    encoder_poolings: tuple = ("max", "max", "max")  # small encoder: each 2x2 pool, max or average
    embedding_dim: int = 64
    units: int = 128
    attention_units: int = 64
    dropout: float = 0.0
    doubly_stochastic: float = 0.0
    attention_supervision: float = 0.0  # weight of the attention-correctness loss (scenes, digits)
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    lr_decay: str = "none"  # "none" or "cosine" (to 1% of the rate over --epochs)
    train_count: int | None = None  # generated sets: images drawn for training
    test_count: int | None = None  # generated sets: images drawn for val and test
    beam_width: int = 3
    seed: int = 0

    def validate(self, vocab_size=None, allow_large=False):
        """Raises `InputError` for settings that cannot train (messages name the parameters).

        Args:
            vocab_size: The vocabulary's size, for the memory estimate (`None`: assume
                `ASSUMED_VOCAB`, before the captions are read).
            allow_large: Allow weights, one batch's activations or generated images above
                `checks.LARGE_BYTES`.
        """
        try:
            self.coordinates = coordinates_option(self.coordinates)
        except ValueError as e:
            raise InputError(str(e)) from None
        choices = {"dataset": DATASETS, "cell": CELLS, "attention": ATTENTIONS,
                   "lr_decay": ("none", "cosine")}
        for name, allowed in choices.items():
            checks.check_choice(name, getattr(self, name), allowed)
        for name in ("epochs", "batch_size", "max_length", "min_count", "image_size",
                     "embedding_dim", "units", "attention_units"):
            checks.check_int(name, getattr(self, name))
        checks.check_int("beam_width", self.beam_width, 1, MAX_BEAM_WIDTH)
        for name in ("train_count", "test_count"):
            if getattr(self, name) is not None:
                checks.check_int(name, getattr(self, name))
        kernels = tuple(self.encoder_kernels) if isinstance(self.encoder_kernels, (list, tuple)) else ()
        if len(kernels) != 3 or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in kernels):
            raise InputError(f"encoder_kernels must be three sizes >= 1 such as 3,3,1, got "
                             f"{self.encoder_kernels!r}")
        poolings = tuple(self.encoder_poolings) if isinstance(self.encoder_poolings, (list, tuple)) else ()
        if len(poolings) != 3 or set(poolings) - set(POOLINGS):
            raise InputError(f"encoder_poolings must be three of {' / '.join(POOLINGS)} such as "
                             f"max,max,average, got {self.encoder_poolings!r}")
        if self.image_size < 16:
            raise InputError(f"image_size must be at least 16 pixels, got {self.image_size}")
        checks.check_real("learning_rate", self.learning_rate, low=0.0, low_open=True)
        checks.check_real("dropout", self.dropout, 0.0, 1.0, high_open=True)
        checks.check_real("doubly_stochastic", self.doubly_stochastic, low=0.0)
        checks.check_real("attention_supervision", self.attention_supervision, low=0.0)
        if self.attention_supervision and self.dataset not in BOXED_DATASETS:
            raise InputError(f"attention_supervision needs object boxes, which only "
                             f"{' and '.join(BOXED_DATASETS)} have, not {self.dataset}")
        checks.check_seed(self.seed)
        vocab = vocab_size or ASSUMED_VOCAB
        checks.check_memory("weights", self.parameter_count(vocab) * checks.FLOAT_BYTES,
                            dict(units=self.units, embedding_dim=self.embedding_dim,
                                 attention_units=self.attention_units,
                                 encoder_kernels=",".join(map(str, kernels))), allow_large)
        checks.check_memory("activations in one batch", self.activation_bytes(vocab),
                            dict(batch_size=self.batch_size, image_size=self.image_size,
                                 max_length=self.max_length, units=self.units,
                                 attention_units=self.attention_units), allow_large)
        if self.dataset in BOXED_DATASETS:
            images = ((self.train_count or GENERATED_COUNTS["train"])
                      + 2 * (self.test_count or GENERATED_COUNTS["test"]))
            checks.check_memory("generated images", images * self.image_size**2 * 3,
                                dict(train_count=self.train_count, test_count=self.test_count,
                                     image_size=self.image_size), allow_large)

    def parameter_count(self, vocab_size):
        """Roughly the captioner's weights: the small encoder's convolutions (an applications
        encoder counts as the small one), the embedding, the recurrent cell, attention and
        output layers."""
        channels = (3, 32, 64, 128)
        count = sum(k * k * channels[i] * channels[i + 1] for i, k in enumerate(self.encoder_kernels))
        features = channels[-1] + 2
        gates = DECODER_GATES.get(self.cell, 4)
        count += vocab_size * self.embedding_dim
        count += gates * self.units * (self.embedding_dim + features + self.units + 1)
        count += (features + self.units + 1) * self.attention_units + 2 * features * self.units
        return count + (self.units + self.embedding_dim + features + 1) * vocab_size

    def activation_bytes(self, vocab_size):
        """Rough bytes of one training batch's activations kept for backpropagation: the
        encoder's feature maps, and at every word the attention scores over the grid, the cell
        and the logits."""
        cells = max(self.image_size // 8, 1) ** 2
        per_word = (cells * (self.attention_units + 2) + 2 * DECODER_GATES.get(self.cell, 4) * self.units
                    + 2 * vocab_size + self.embedding_dim)
        per_image = ENCODER_FLOATS_PER_PIXEL * self.image_size**2 + (self.max_length + 1) * per_word
        return self.batch_size * per_image * checks.FLOAT_BYTES

    def model_config(self, vocab_size):
        """The `build_captioner` arguments besides the encoder."""
        return dict(vocab_size=vocab_size, image_size=self.image_size, max_length=self.max_length,
                    cell=self.cell, embedding_dim=self.embedding_dim, units=self.units,
                    attention_units=self.attention_units, dropout=self.dropout,
                    doubly_stochastic=self.doubly_stochastic, attention=self.attention,
                    seed=self.seed, coordinates=self.coordinates)

    def build_model(self, vocab_size):
        """A fresh teacher-forced captioner for a vocabulary of `vocab_size` ids."""
        if self.encoder == "small":
            encoder = small_cnn_encoder(kernel_sizes=tuple(self.encoder_kernels),
                                        poolings=tuple(self.encoder_poolings))
        else:
            try:
                encoder = applications_encoder(self.image_size, self.encoder, self.encoder_weights,
                                               self.encoder_layer)
            except (AttributeError, ValueError, OSError) as e:
                raise InputError(f"encoder {self.encoder}: cannot build it ({e}); use 'small' or "
                                 "a keras.applications name such as MobileNetV2") from None
        return build_captioner(encoder=encoder, **self.model_config(vocab_size))


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

    `steps_per_epoch` is needed for `lr_decay="cosine"` (the schedule spans all epochs).
    """
    lr = config.learning_rate
    if config.lr_decay == "cosine" and steps_per_epoch:
        lr = keras.optimizers.schedules.CosineDecay(lr, config.epochs * steps_per_epoch, alpha=0.01)
    words = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
    supervised = bool(config.attention_supervision)
    model.compile(optimizer=keras.optimizers.Adam(lr, clipnorm=5.0),
                  loss=[words, attention_correctness_loss if supervised else None],
                  loss_weights=[1.0, config.attention_supervision] if supervised else None)
    return model


def train_captioner(config, out_dir, resume=False, max_seconds=None, verbose=1, extra_callbacks=(),
                    allow_large=False):
    """Trains a captioner and writes the run directory `out_dir` (model, vocab, metrics).

    Every setting is checked before anything is written.

    Args:
        config: `CaptionerConfig`. When resuming, `epochs` and `learning_rate` may differ from
            the saved run's (the new ones are used and recorded in `config.json`); any other
            setting that differs is refused. To resume giving only some settings, pass a dict
            of them (e.g. `{"epochs": 20}`); the rest come from the run.
        out_dir: Directory to write (see `kerasrnn.run_dir`).
        resume: Continue the run in `out_dir` from its last per-epoch backup.
        max_seconds: Stop after this much wall time (checked after each step); `None` or > 0.
        verbose: Keras progress bar setting.
        extra_callbacks: More Keras callbacks for `fit`.
        allow_large: Allow models, batches or generated sets above `checks.LARGE_BYTES`.

    Returns:
        The metrics dict also written to `out_dir/metrics.json`; its `history` covers every
        epoch of the run, resumed ones included.

    Raises:
        InputError: A bad setting (before anything is written), or training diverged.
    """
    checks.check_max_seconds(max_seconds)
    saved = run_dir.prepare_run_dir(out_dir, resume, KIND)
    if saved is not None:
        training = dict(saved["training"])
        given = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
        config = checks.resumed_settings(CaptionerConfig, training, given, RESUMABLE)
    config.validate(allow_large=allow_large)
    keras.utils.set_random_seed(config.seed)
    splits = load_splits(config)
    out = pathlib.Path(out_dir)
    if saved is None:
        vocab = CaptionVocabulary.from_captions(
            [c for ex in splits["train"] for c in ex.captions], config.min_count)
    else:
        vocab = CaptionVocabulary.load(out)
    config.validate(len(vocab), allow_large)
    start_epoch = run_dir.restored_epoch(out) if saved is not None else 0
    if resume and start_epoch >= config.epochs:
        raise InputError(f"resume: {out} has already trained {start_epoch} epochs; "
                         "pass a larger epochs to train further")

    batch = config.batch_size
    pairs = sum(len(ex.captions) for ex in splits["train"])
    if pairs < batch:
        raise InputError(f"the {config.dataset} training split has {pairs} captions, fewer than "
                         f"one batch of {batch}; lower batch_size")
    model = compile_model(config.build_model(len(vocab)), config, pairs // batch)
    cells = model.outputs[1].shape[-1] if config.attention_supervision else None
    train_ds = caption_dataset(splits["train"], vocab, config.image_size, config.max_length, batch,
                               shuffle=True, seed=config.seed, repeat=True, drop_remainder=True,
                               epoch=start_epoch, attention_cells=cells)
    val_ds = caption_dataset(splits["val"], vocab, config.image_size, config.max_length, batch,
                             shuffle=False, attention_cells=cells)

    out.mkdir(parents=True, exist_ok=True)
    if saved is None:
        vocab.save(out)
        run_dir.write_run_config(out, KIND, config.model_config(len(vocab)), dataclasses.asdict(config))
    else:
        run_dir.update_training_config(out, dataclasses.asdict(config))
    throughput = Throughput(batch)
    stopper = StopAfterSteps(None, max_seconds)
    standard_callbacks, run_history = run_callbacks(out, start_epoch=start_epoch,
                                                       learning_rate=config.learning_rate)
    callbacks = [*standard_callbacks, stopper, throughput, *extra_callbacks]
    model.fit(train_ds, epochs=config.epochs, steps_per_epoch=pairs // batch,
              validation_data=val_ds, callbacks=callbacks, verbose=verbose, shuffle=False)
    h = run_history.history
    losses = h.get("loss", [])

    results = evaluate_captioner(model, vocab, splits["test"], config)
    metrics = {
        **results,
        "train_loss": losses[-1] if losses else None,
        "val_loss": h["val_loss"][-1] if h.get("val_loss") else None,
        "epochs": run_history.epochs,
        "steps": int(model.optimizer.iterations.numpy()),
        "captions_per_second_training": throughput.per_second,
        "train_seconds": throughput.seconds,
        "stopped_by_time_limit": stopper.stopped_by_time,
        "train_images": len(splits["train"]),
        "test_images": len(splits["test"]),
        "vocab_size": len(vocab),
        "beam_width": config.beam_width,
        "history": {k: [float(v) for v in vs] for k, vs in h.items()},
        "parameters": int(model.count_params()),
    }
    run_dir.save_trained_model(out, model, metrics)
    return metrics


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
