"""What several benchmark scripts share: the round-robin best-of timing and untrained run
directories of every kind. A module, not a script: the scripts import it as a sibling
(`from _shared import ...`; a script's own folder is on `sys.path` when it runs)."""

import dataclasses
import pathlib

KINDS = ("char", "stn", "captioner")


def best_of_rounds(runners, seconds, rounds):
    """Runs every runner `rounds` times, round-robin (so machine noise hits all alike); the best rate of each."""
    best = {name: 0.0 for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            best[name] = max(best[name], run(seconds / rounds))
    return best


def untrained_runs(root, kinds, quick):
    """Writes untrained run directories for `kinds` under `root`; returns `{kind: (dir, description)}`."""
    import keras

    from kerasrnn import run_dir
    from kerasrnn.kinds.captioner.vocab import CaptionVocabulary
    from kerasrnn.kinds.char_rnn.text import Vocabulary
    from kerasrnn.kinds.char_rnn.model import build_char_rnn
    from kerasrnn.kinds.stn_classifier.model import build_stn_classifier
    from kerasrnn.kinds.captioner.config import KIND as CAPTIONER
    from kerasrnn.kinds.char_rnn.trained import write_char_run_config
    from kerasrnn.kinds.char_rnn.train import PRESETS
    from kerasrnn.kinds.captioner.config import CaptionerConfig
    from kerasrnn.kinds.char_rnn.config import CharRNNConfig
    from kerasrnn.kinds.stn_classifier.config import STNConfig

    runs = {}
    for kind in kinds:
        directory = pathlib.Path(root) / kind
        directory.mkdir()
        if kind == "char":
            chars = [chr(c) for c in range(32, 32 + 64)] + ["\n"]  # 65, as tiny-shakespeare
            config = CharRNNConfig(**{**PRESETS["demo"], **(dict(num_layers=1, hidden_size=32, embedding_dim=8)
                                                             if quick else {})})
            model_config = config.model_config(len(chars))
            write_char_run_config(directory, model_config, dataclasses.asdict(config), Vocabulary(chars))
            model = build_char_rnn(**model_config)
            about = f"{config.num_layers}-layer {config.cell.upper()}-{config.hidden_size}, {len(chars)} characters"
        elif kind == "stn":
            config = STNConfig()
            model_config = {**config.model_config(), **({"filters": [4, 8]} if quick else {})}
            run_dir.write_run_config(directory, "stn_classifier", model_config, dataclasses.asdict(config))
            model = build_stn_classifier(**model_config)
            about = f"{config.model.upper()}, {model_config['input_size']}x{model_config['input_size']}"
        else:
            config = CaptionerConfig(**(dict(image_size=32, max_length=6, embedding_dim=16, units=32,
                                             attention_units=16) if quick else {}))
            vocab = CaptionVocabulary([f"word{i}" for i in range(30)])
            vocab.save(directory)
            run_dir.write_run_config(directory, CAPTIONER, config.model_config(len(vocab)),
                                     dataclasses.asdict(config))
            model = config.build_model(len(vocab))
            about = (f"{config.cell.upper()}-{config.units}, {config.image_size}x{config.image_size} images, "
                     f"{len(vocab)} ids, at most {config.max_length + 1} tokens")
        keras.utils.set_random_seed(0)
        run_dir.save_trained_model(directory, model, {"epochs": 0})
        runs[kind] = directory, f"UNTRAINED {about}"
    return runs
