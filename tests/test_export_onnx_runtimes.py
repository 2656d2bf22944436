"""Every exported ONNX file (char step of each cell; ST-CNN classifier and rectifier; captioner
encoder and decoder step) computes the Keras outputs within 1e-4 in ONNX Runtime (Python),
OpenVINO (f32) and ONNX Runtime for Node.js; the clean-up pass `remove_no_ops` takes out what
OpenVINO refused (the empty-axes `Unsqueeze` tf2onnx writes into the decoder step, the loop state
the vanilla char RNN's `Loop` passes through unchanged); `verify.py` names the runtimes it checked
and those it skipped.

A runtime that is not installed (`node` or export/node's onnxruntime-node, the openvino package)
makes its tests skip with the reason `onnx_runtimes.find_runtimes` gives.
"""

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")
pytest.importorskip("onnxruntime")

import keras  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from kerasrnn import run_dir  # noqa: E402
from kerasrnn.kinds.captioner.vocab import CaptionVocabulary  # noqa: E402
from kerasrnn.kinds.char_rnn.text import Vocabulary  # noqa: E402
from kerasrnn.export import onnx_runtimes, verification  # noqa: E402
from kerasrnn.kinds import registry  # noqa: E402
from kerasrnn.kinds.captioner.onnx_models import onnx_models  # noqa: E402
from kerasrnn.kinds.captioner.verify import graph_cases  # noqa: E402
from kerasrnn.export.onnx import remove_no_ops, to_onnx  # noqa: E402
from kerasrnn.kinds.stn_classifier.signatures import with_probabilities  # noqa: E402
from kerasrnn.kinds.char_rnn.model import build_char_rnn  # noqa: E402
from kerasrnn.kinds.stn_classifier.model import rectifier  # noqa: E402
from kerasrnn.kinds.captioner.config import KIND as CAPTIONER  # noqa: E402
from kerasrnn.kinds.captioner.trained import load_captioner  # noqa: E402
from kerasrnn.kinds.char_rnn.trained import load_char_model, write_char_run_config  # noqa: E402
from kerasrnn.kinds.stn_classifier.trained import load_stn_model  # noqa: E402
from kerasrnn.kinds.captioner.config import CaptionerConfig  # noqa: E402
from tiny_runs import captioner_run, char_run, st_cnn_run  # noqa: E402

ATOL = 1e-4
RUNTIMES = {r.name: r for r in onnx_runtimes.find_runtimes()}

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="export needs the TensorFlow backend")


def installed(name):
    """The `Runtime` called `name`; the test skips with its reason where it is not installed."""
    runtime = RUNTIMES[name]
    if runtime.missing:
        pytest.skip(f"{runtime.label}: {runtime.missing}")
    return runtime


def char_cell_run(cell, embedding_dim):
    """`tiny_runs.char_run` with another cell (vanilla and GRU convert to a `Loop`, LSTM to `LSTM`)."""
    def make(directory):
        vocab = Vocabulary(sorted(set("def return self.x = (a, b):\n")))
        config = dict(vocab_size=len(vocab), cell=cell, num_layers=2, hidden_size=8, dropout=0.0,
                      embedding_dim=embedding_dim)
        directory.mkdir()
        write_char_run_config(directory, config, {"sample_prime": "def "}, vocab)
        run_dir.save_trained_model(directory, build_char_rnn(**config), {"epochs": 0})
    return make


def gru_hard_captioner_run(directory):
    """`tiny_runs.captioner_run` with a GRU and hard attention."""
    config = CaptionerConfig(image_size=32, max_length=6, embedding_dim=16, units=32, attention_units=16,
                             cell="gru", attention="hard")
    vocab = CaptionVocabulary([f"w{i}" for i in range(14)])
    directory.mkdir()
    vocab.save(directory)
    run_dir.write_run_config(directory, CAPTIONER, config.model_config(len(vocab)), dataclasses.asdict(config))
    run_dir.save_trained_model(directory, config.build_model(len(vocab)), {"epochs": 0})


RUNS = {"char-lstm": char_run, "char-vanilla": char_cell_run("vanilla", None),
        "char-gru": char_cell_run("gru", 4), "stn-affine": st_cnn_run("affine"),
        "stn-tps": st_cnn_run("tps"), "captioner-lstm-soft": captioner_run,
        "captioner-gru-hard": gru_hard_captioner_run}


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    """`{name: (run_dir, version_dir)}`: tiny exports of the three kinds (`RUNS`)."""
    root = tmp_path_factory.mktemp("runtimes")
    out = {}
    for name, make in RUNS.items():
        keras.utils.set_random_seed(0)
        make(root / name)
        out[name] = root / name, registry.export_model(root / name, root / "models", name)
    return out


@pytest.fixture(scope="module")
def cases(versions):
    """`[(path, inputs, Keras outputs)]` for every ONNX file of the versions."""
    rng = np.random.default_rng(0)
    out = []
    for name, (run, version) in versions.items():
        onnx_dir = version / "onnx"
        if name.startswith("char"):
            step, vocab, _ = load_char_model(run, with_state=True)
            names = [t.name for t in step.inputs[1:]]
            inputs = {"tokens": rng.integers(0, len(vocab), (3, 7)).astype(np.int32),
                      **{n: rng.normal(0, 0.5, (3, *t.shape[1:])).astype(np.float32)
                         for n, t in zip(names, step.inputs[1:])}}
            want = step.predict_on_batch([inputs[n] for n in ["tokens", *names]])
            out.append((onnx_dir / "step.onnx", inputs,
                        dict(zip(["logits", *("next_" + n for n in names)], map(np.asarray, want)))))
        elif name.startswith("stn"):
            model, _ = load_stn_model(run)
            images = rng.random((5, 28, 28, 1)).astype(np.float32)
            logits, probs = (np.asarray(x) for x in with_probabilities(model)(images, training=False))
            out.append((onnx_dir / "classifier.onnx", {"images": images},
                        {"logits": logits, "probabilities": probs}))
            out.append((onnx_dir / "rectifier.onnx", {"images": images},
                        {"rectified": np.asarray(rectifier(model)(images, training=False))}))
        else:
            captioner, words, _ = load_captioner(run)
            images = rng.random((4, 32, 32, 3)).astype(np.float32)
            out += graph_cases(captioner, onnx_dir, images, rng.integers(4, len(words), 4))
    files = {p for _, version in versions.values() for p in (version / "onnx").glob("*.onnx")}
    assert {c[0] for c in out} == files  # every ONNX file export writes, no more
    return out


@pytest.mark.parametrize("name", [onnx_runtimes.ONNXRUNTIME, onnx_runtimes.OPENVINO,
                                  onnx_runtimes.ONNXRUNTIME_NODE])
def test_every_onnx_file_computes_the_keras_outputs_in_every_runtime(cases, name):
    runtime = installed(name)
    run = onnx_runtimes.run_graphs([(path, inputs) for path, inputs, _ in cases], [runtime])[name]
    assert run.error is None, run.error
    report = []
    for (path, _, want), got in zip(cases, run.outputs):
        assert set(want) <= set(got), (path.name, sorted(got))
        diff = max(float(np.abs(got[n] - w).max()) for n, w in want.items())
        assert all(got[n].shape == w.shape and got[n].dtype == w.dtype for n, w in want.items())
        report.append(f"{path.parents[2].name}/{path.name} {diff:.2e}")
        assert diff <= ATOL, report
    print(f"{runtime.label} {runtime.version}: max |delta| to Keras: " + ", ".join(report))


def empty_unsqueezes(model):
    constants = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    return [n.name for n in model.graph.node if n.op_type == "Unsqueeze"
            and len(n.input) > 1 and constants.get(n.input[1], np.zeros(1)).size == 0]


def passed_through_loop_state(model):
    """The names of the values a `Loop` of the main graph carries through its body unchanged."""
    out = []
    for loop in (n for n in model.graph.node if n.op_type == "Loop"):
        body = helper.get_attribute_value(loop.attribute[0])
        out += [loop.input[2 + k] for k in range(len(loop.input) - 2)
                if body.input[2 + k].name == body.output[1 + k].name]
    return out


def raw_and_exported(keras_model, path, output_name, monkeypatch):
    """`to_onnx` of `keras_model` into `path`: `(tf2onnx's model before the clean-up, the file's)`."""
    from kerasrnn.export import onnx as onnx_export

    raw = []
    clean = onnx_export.remove_no_ops
    monkeypatch.setattr(onnx_export, "remove_no_ops",
                        lambda m: (raw.append(onnx.load_from_string(m.SerializeToString())), clean(m))[1])
    to_onnx(keras_model, path, output_name=output_name)
    return raw[0], onnx.load(path)


def assert_same_in_onnxruntime_and_refused_raw_by_openvino(before, path, feed, reason, tmp_path):
    """`before` and the file at `path` compute the same in ONNX Runtime; OpenVINO, reading files,
    refuses `before` for `reason` and loads `path`."""
    import onnxruntime

    onnx.save(before, tmp_path / "raw.onnx")
    outputs = [onnxruntime.InferenceSession(str(p)).run(None, feed) for p in (tmp_path / "raw.onnx", path)]
    for a, b in zip(*outputs):
        np.testing.assert_array_equal(a, b)
    if not RUNTIMES[onnx_runtimes.OPENVINO].missing:
        import openvino

        core = openvino.Core()
        with pytest.raises(Exception, match=reason):
            core.compile_model(str(tmp_path / "raw.onnx"), "CPU", onnx_runtimes.OPENVINO_CONFIG)
        core.compile_model(str(path), "CPU", onnx_runtimes.OPENVINO_CONFIG)


def test_the_clean_up_pass_takes_the_empty_unsqueeze_out_of_the_decoder_step(versions, tmp_path, monkeypatch):
    """tf2onnx 1.17 writes `Unsqueeze(axes=[])` -> `Transpose(perm=[0, 2, 1])` for the attention's
    einsum; the exported file has no such `Unsqueeze`, passes the full checker and computes what
    the raw conversion computes in ONNX Runtime, and OpenVINO loads it."""
    exported = onnx.load(versions["captioner-lstm-soft"][1] / "onnx" / "decoder_step.onnx")
    onnx.checker.check_model(exported, full_check=True)
    assert empty_unsqueezes(exported) == []
    assert "Identity" not in {n.op_type for n in exported.graph.node}

    _, step = onnx_models(load_captioner(versions["captioner-lstm-soft"][0])[0])
    state_names = [t.name for t in step.inputs[3:]]
    before, after = raw_and_exported(step, tmp_path / "decoder_step.onnx",
                                     ["logits", *("next_" + n for n in state_names), "attention"], monkeypatch)
    assert len(empty_unsqueezes(before)) == 1, "tf2onnx no longer writes the empty Unsqueeze"
    assert empty_unsqueezes(after) == []
    removed = [n.op_type for n in before.graph.node if n.name not in {m.name for m in after.graph.node}]
    assert removed == ["Unsqueeze"]
    rng = np.random.default_rng(1)
    feed = {"tokens": np.array([4, 5], np.int32)}
    feed.update({t.name: rng.random((2, *t.shape[1:])).astype(np.float32) for t in step.inputs[1:]})
    assert_same_in_onnxruntime_and_refused_raw_by_openvino(before, tmp_path / "decoder_step.onnx", feed,
                                                           "Input order must have shape", tmp_path)


def test_the_clean_up_pass_drops_the_loop_state_the_vanilla_char_rnn_passes_through(versions, tmp_path,
                                                                                    monkeypatch):
    """tf2onnx 1.17 makes the vanilla cell's `Loop` carry its weights and the sequence length
    through the body unchanged; the exported file reads them from outside the loop instead."""
    exported = onnx.load(versions["char-vanilla"][1] / "onnx" / "step.onnx")
    onnx.checker.check_model(exported, full_check=True)
    assert [n.op_type for n in exported.graph.node].count("Loop") == 2 and not passed_through_loop_state(exported)

    step, vocab, _ = load_char_model(versions["char-vanilla"][0], with_state=True)
    names = [t.name for t in step.inputs[1:]]
    before, after = raw_and_exported(step, tmp_path / "step.onnx",
                                     ["logits", *("next_" + n for n in names)], monkeypatch)
    assert len(passed_through_loop_state(before)) == 8, "tf2onnx no longer passes loop state through"
    assert passed_through_loop_state(after) == []
    rng = np.random.default_rng(1)
    feed = {"tokens": rng.integers(0, len(vocab), (2, 5)).astype(np.int32),
            **{n: rng.random((2, *t.shape[1:])).astype(np.float32) for n, t in zip(names, step.inputs[1:])}}
    assert_same_in_onnxruntime_and_refused_raw_by_openvino(before, tmp_path / "step.onnx", feed,
                                                           "canonical inputs size", tmp_path)


def value(name, elem_type, shape):
    return helper.make_tensor_value_info(name, elem_type, shape)


def model_of(graph):
    # IR version 8, as tf2onnx 1.17 writes (onnx 1.23's default is newer than ONNX Runtime for
    # Node.js 1.30 reads).
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def no_op_graph():
    """A hand-made graph: x (B, 3, 4) -> Unsqueeze(axes=[]) -> Identity -> Transpose(0, 2, 1)
    -> y; the no-op Transpose(0, 1, 2) of x read inside an `If` branch and written as output `z`;
    an int64 `n` -> Identity -> output `m` (a graph output stays written by an Identity)."""
    branch_out = value("branch_out", TensorProto.FLOAT, ["B", 3, 4])
    then_branch = helper.make_graph([helper.make_node("Neg", ["same"], ["branch_out"])], "then", [], [branch_out])
    else_branch = helper.make_graph([helper.make_node("Abs", ["same"], ["branch_out"])], "else", [], [branch_out])
    nodes = [
        helper.make_node("Unsqueeze", ["x", "no_axes"], ["u"], name="empty_unsqueeze"),
        helper.make_node("Identity", ["u"], ["v"], name="identity"),
        helper.make_node("Transpose", ["v"], ["y"], perm=[0, 2, 1], name="transpose"),
        helper.make_node("Transpose", ["x"], ["same"], perm=[0, 1, 2], name="identity_transpose"),
        helper.make_node("If", ["flag"], ["z"], then_branch=then_branch, else_branch=else_branch, name="if"),
        helper.make_node("Identity", ["n"], ["m"], name="output_identity"),
    ]
    return model_of(helper.make_graph(
        nodes, "no_ops",
        [value("x", TensorProto.FLOAT, ["B", 3, 4]), value("n", TensorProto.INT64, ["B"]),
         value("flag", TensorProto.BOOL, [])],
        [value("y", TensorProto.FLOAT, ["B", 4, 3]), value("z", TensorProto.FLOAT, ["B", 3, 4]),
         value("m", TensorProto.INT64, ["B"])],
        initializer=[numpy_helper.from_array(np.zeros(0, np.int64), "no_axes")]))


def loop_graph():
    """A hand-made `Loop`, `trips` times: s <- s + c, scan output 3 s; it carries s (from x) and
    c = -x, which its body passes through unchanged, and writes both final values as outputs."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["s_in", "c_in"], ["s_out"]),
         helper.make_node("Mul", ["s_out", "three"], ["scan"])],
        "body", [value("i", TensorProto.INT64, []), value("cond_in", TensorProto.BOOL, []),
                 value("s_in", TensorProto.FLOAT, ["B", 2]), value("c_in", TensorProto.FLOAT, ["B", 2])],
        [value("cond_out", TensorProto.BOOL, []), value("s_out", TensorProto.FLOAT, ["B", 2]),
         value("c_in", TensorProto.FLOAT, ["B", 2]), value("scan", TensorProto.FLOAT, ["B", 2])])
    return model_of(helper.make_graph(
        [helper.make_node("Neg", ["x"], ["c"]),
         helper.make_node("Loop", ["trips", "", "x", "c"], ["s_final", "c_final", "scans"], body=body,
                          name="loop")],
        "loop", [value("x", TensorProto.FLOAT, ["B", 2]), value("trips", TensorProto.INT64, [])],
        [value("s_final", TensorProto.FLOAT, ["B", 2]), value("c_final", TensorProto.FLOAT, ["B", 2]),
         value("scans", TensorProto.FLOAT, ["T", "B", 2])],
        initializer=[numpy_helper.from_array(np.array(3.0, np.float32), "three")]))


def test_remove_no_ops_rewires_consumers_subgraphs_included():
    import onnxruntime

    model = no_op_graph()
    onnx.checker.check_model(model, full_check=True)
    assert remove_no_ops(model) == 3
    onnx.checker.check_model(model, full_check=True)
    assert [(n.op_type, list(n.input)) for n in model.graph.node] == [
        ("Transpose", ["x"]), ("If", ["flag"]), ("Identity", ["n"])]
    branches = [helper.get_attribute_value(a) for a in model.graph.node[1].attribute]
    assert [n.input[0] for branch in branches for n in branch.node] == ["x", "x"]  # read outer x now
    assert [t.name for t in model.graph.initializer] == []  # the empty axes went with their node
    rng = np.random.default_rng(0)
    feed = {"x": rng.random((2, 3, 4)).astype(np.float32), "n": np.array([3, -2**40], np.int64),
            "flag": np.array(True)}
    y, z, m = onnxruntime.InferenceSession(model.SerializeToString()).run(["y", "z", "m"], feed)
    np.testing.assert_array_equal(y, feed["x"].transpose(0, 2, 1))
    np.testing.assert_array_equal(z, -feed["x"])
    np.testing.assert_array_equal(m, feed["n"])
    assert remove_no_ops(model) == 0  # nothing left to remove


def test_remove_no_ops_drops_loop_state_the_body_passes_through():
    import onnxruntime

    model = loop_graph()
    onnx.checker.check_model(model, full_check=True)
    x = np.array([[1, 2], [3, 4]], np.float32)
    feed = {"x": x, "trips": np.array(3, np.int64)}
    before = onnxruntime.InferenceSession(model.SerializeToString()).run(None, feed)
    assert remove_no_ops(model) == 1
    onnx.checker.check_model(model, full_check=True)
    assert [(n.op_type, list(n.input), list(n.output)) for n in model.graph.node] == [
        ("Neg", ["x"], ["c"]), ("Loop", ["trips", "", "x"], ["s_final", "scans"]),
        ("Identity", ["c"], ["c_final"])]  # c_final, a graph output, is c
    body = helper.get_attribute_value(model.graph.node[1].attribute[0])
    assert [v.name for v in body.input] == ["i", "cond_in", "s_in"]
    assert [v.name for v in body.output] == ["cond_out", "s_out", "scan"]
    assert [list(n.input) for n in body.node if n.op_type == "Add"] == [["s_in", "c"]]  # c from outside
    after = onnxruntime.InferenceSession(model.SerializeToString()).run(None, feed)
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(after[0], x - 3 * x)
    assert remove_no_ops(model) == 0


@pytest.mark.parametrize("graph,reason", [(no_op_graph, "Input order must have shape"),
                                          (loop_graph, "canonical inputs size")])
def test_a_runtime_that_refuses_a_file_fails_the_check(tmp_path, graph, reason):
    """The raw hand-made graphs hold what OpenVINO refused in the decoder step and the vanilla
    char step: `runtime_check` fails with OpenVINO's reason while ONNX Runtime agrees; cleaned,
    every runtime agrees."""
    installed(onnx_runtimes.OPENVINO)
    import onnxruntime

    rng = np.random.default_rng(0)
    if graph is no_op_graph:
        inputs = {"x": rng.random((2, 3, 4)).astype(np.float32), "n": np.array([1, 2], np.int64),
                  "flag": np.array(False)}
    else:
        inputs = {"x": rng.random((2, 2)).astype(np.float32), "trips": np.array(4, np.int64)}
    model = graph()
    session = onnxruntime.InferenceSession(model.SerializeToString())
    want = dict(zip([o.name for o in session.get_outputs()], session.run(None, inputs)))
    onnx.save(model, tmp_path / "raw.onnx")
    check = verification.runtime_check("raw", [(tmp_path / "raw.onnx", inputs, want)])
    assert not check.ok and "OpenVINO (CPU, f32) FAILED: raw.onnx:" in check.detail, check.detail
    assert reason in check.detail and "ONNX Runtime (Python) 0.00e+00" in check.detail
    remove_no_ops(model)
    onnx.save(model, tmp_path / "clean.onnx")
    check = verification.runtime_check("clean", [(tmp_path / "clean.onnx", inputs, want)])
    assert check.ok and "FAILED" not in check.detail, check.detail


def test_openvino_computes_in_f32():
    """On a CPU with bf16, OpenVINO's default precision is bf16 (about 1e-2 from Keras); the
    runtimes module asks for f32."""
    installed(onnx_runtimes.OPENVINO)
    import openvino

    model = no_op_graph()
    remove_no_ops(model)
    core = openvino.Core()
    compiled = core.compile_model(core.read_model(model.SerializeToString(), b""), "CPU",
                                  onnx_runtimes.OPENVINO_CONFIG)
    assert str(compiled.get_property("INFERENCE_PRECISION_HINT")) in ("<Type: 'float32'>", "f32")


def test_verify_names_the_runtimes_it_checked_and_those_it_skipped(versions, script, capsys, monkeypatch,
                                                                   tmp_path):
    verify = script("export/verify.py")
    version = str(versions["stn-affine"][1])
    assert verify([version]) == 0
    out = capsys.readouterr().out
    checked = [r for r in RUNTIMES.values() if not r.missing]
    assert "ONNX files checked in: " + ", ".join(f"{r.label} {r.version}" for r in checked) in out
    for line in [line for line in out.splitlines() if "Keras vs ONNX" in line]:
        assert line.startswith("  ok") and all(f"{r.label} " in line for r in checked), line
    assert "5 of 5 checks hold" in out

    # Without OpenVINO and onnxruntime-node: the same checks hold in ONNX Runtime, the others named.
    monkeypatch.setitem(sys.modules, "openvino", None)
    monkeypatch.setenv("KERASRNN_NODE_DIR", str(tmp_path))
    assert verify([version]) == 0
    out = capsys.readouterr().out
    assert f"ONNX files checked in: ONNX Runtime (Python) {RUNTIMES['onnxruntime'].version}\n" in out
    assert ("ONNX files not checked in OpenVINO (CPU, f32): the openvino package is not installed "
            "(the runtimes extra)") in out
    assert "ONNX files not checked in ONNX Runtime for Node.js: " in out
    assert ("not installed: OpenVINO (CPU, f32), ONNX Runtime for Node.js" in out
            or "no `node` on the PATH" in out)
    assert "5 of 5 checks hold" in out


def test_the_runtimes_module_loads_no_tensorflow_or_keras():
    code = ("import sys, kerasrnn.export.onnx_runtimes as r; r.find_runtimes(); "
            "print(sorted(m for m in ('tensorflow', 'keras', 'tf2onnx') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
