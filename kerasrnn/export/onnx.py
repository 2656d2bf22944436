"""Keras model -> ONNX file with `tf2onnx`, and running that file with ONNX Runtime.

TensorFlow only: the model is traced as a `tf.function`, so Keras must run on the TensorFlow
backend. The batch axis stays dynamic. Checked with TensorFlow 2.21, Keras 3.15, tf2onnx 1.17
(whose highest opset is 18) and onnxruntime 1.32 on the ST-CNN and its `SpatialTransformer`
(affine, projective and TPS grids; the bilinear sampler becomes plain `Floor`, `Cast`,
`Min`/`Max` and `Gather` ops).

Every file `to_onnx` writes has been through one clean-up pass, `remove_no_ops`, and
`onnx.checker.check_model(full_check=True)`, so ONNX Runtime (Python and Node.js) and OpenVINO
read the same graph (`kerasrnn.export.onnx_runtimes` runs it in each).
"""

import os
import pathlib

import keras
import numpy as np

# ONNX 1.12 / onnxruntime >= 1.12; every op our models use exists since opset 11, and
# tf2onnx 1.17 converts up to opset 18.
DEFAULT_OPSET = 17


def to_onnx(model, path, input_shape=None, opset=DEFAULT_OPSET, output_name=None):
    """Converts a Keras model (one or several inputs and outputs) to an ONNX file.

    The file is written through a temporary file in the same directory and renamed into place,
    so a reader never sees half a model. The ONNX inputs keep the Keras inputs' names (e.g.
    `images`, `captions`); the outputs are named `output_name`, by default `output_0`,
    `output_1`, ..., the names `model.export`'s `serving_default` signature gives them.

    Args:
        model: A Keras model (TensorFlow backend).
        path: The `.onnx` file to write (replaced if it exists).
        input_shape: The shape of one example without the batch axis, e.g. `(28, 28, 1)`, or a
            list of them for several inputs; default: the Keras inputs' shapes.
        opset: ONNX opset to target.
        output_name: Name of the ONNX output, or a list of names for several outputs.

    Returns:
        `path` as a `pathlib.Path`.
    """
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError("ONNX export traces the model with TensorFlow; set KERAS_BACKEND="
                           f"tensorflow (the backend is {keras.backend.backend()!r}).")
    import onnx
    import tensorflow as tf
    import tf2onnx

    shapes = [tuple(inp.shape[1:]) for inp in model.inputs] if input_shape is None else (
        [tuple(input_shape)] if len(model.inputs) == 1 else [tuple(s) for s in input_shape])
    if len(shapes) != len(model.inputs):
        raise ValueError(f"{model.name!r} has {len(model.inputs)} inputs; got {len(shapes)} shapes.")
    names = output_name if isinstance(output_name, (list, tuple)) else (
        [output_name] if output_name else [f"output_{i}" for i in range(len(model.outputs))])
    if len(names) != len(model.outputs):
        raise ValueError(f"{model.name!r} has {len(model.outputs)} outputs; got {len(names)} names.")
    specs = [tf.TensorSpec((None, *shape), inp.dtype, name=inp.name)
             for shape, inp in zip(shapes, model.inputs)]

    @tf.function(input_signature=specs)
    def serve(*xs):
        outputs = model(list(xs) if len(xs) > 1 else xs[0], training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return dict(zip(names, outputs))

    proto, _ = tf2onnx.convert.from_function(serve, input_signature=specs, opset=opset)
    remove_no_ops(proto)
    onnx.checker.check_model(proto, full_check=True)
    path = pathlib.Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(proto.SerializeToString())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def remove_no_ops(model):
    """Removes what computes nothing from an ONNX model, in place; returns how many things went.

    What, in the graph and every subgraph:

    * no-op nodes: an `Identity`, an `Unsqueeze` whose axes are a constant empty list, a
      `Transpose` whose `perm` is `0, 1, ..., n-1`. Their consumers (in subgraphs too) read the
      node's input instead, and the node goes, with its axes constant once nothing else reads
      it. Where the output is an output of its graph, it needs a node that writes it: that node
      is left as (or becomes) an `Identity`.
    * no-op loop state: a value a `Loop` carries that its body passes on unchanged (the body's
      output for it is its input) is the same at every iteration. The body reads the value from
      the enclosing graph instead, and the `Loop` no longer carries it; consumers of the `Loop`'s
      final value for it read the value it started from.

    Why: tf2onnx 1.17 writes both. It rewrites the captioner attention's `einsum` into an
    `Unsqueeze` with an empty axes list followed by `Transpose(perm=[0, 2, 1])`: by the ONNX
    specification the `Unsqueeze` inserts no axis, and `onnx.checker` (full check) and ONNX
    Runtime agree, but OpenVINO 2026.4 inserts one and then refuses the `Transpose` ("Input order
    must have shape [n], where n is the rank of arg"). And it makes the vanilla char RNN's
    `while` loop carry its weights and sequence length through the body unchanged, which
    OpenVINO 2026.4 refuses when it reads the file from a path ("The provided loop body graph
    canonical inputs size (12), does not match the sum of loop carried dependencies and two
    mandatory inputs (8)"). Without them the graph computes the same and means the same to every
    runtime; this is a property of the file, not a special case of one runtime.

    Args:
        model: An `onnx.ModelProto` (changed in place).

    Returns:
        The number of nodes removed or turned into an `Identity`, plus loop-carried values dropped.
    """
    return _remove_no_ops(model.graph, {})


def _remove_no_ops(graph, outer_constants):
    """`remove_no_ops` on one graph and, recursively, on its subgraphs."""
    from onnx import helper, numpy_helper

    constants = dict(outer_constants)  # name -> TensorProto, for the axes of `Unsqueeze`
    constants.update((t.name, t) for t in graph.initializer)
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = node.attribute[0].t

    def is_no_op(node):
        if node.domain not in ("", "ai.onnx") or len(node.output) != 1:
            return False
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Identity":
            return True
        if node.op_type == "Unsqueeze":  # axes: an input since opset 13, an attribute before
            if len(node.input) < 2:
                return "axes" in attributes and len(attributes["axes"]) == 0
            return node.input[1] in constants and numpy_helper.to_array(constants[node.input[1]]).size == 0
        if node.op_type == "Transpose":
            perm = attributes.get("perm")
            return perm is not None and list(perm) == list(range(len(perm)))
        return False

    graph_outputs = {o.name for o in graph.output}
    renamed, kept, changed, maybe_unused = {}, [], 0, set()

    def forward(target, source, name):
        """Consumers of `target` read `source`; a graph output gets an `Identity` that writes it."""
        if target in graph_outputs:
            kept.append(helper.make_node("Identity", [source], [target], name=name))
        else:
            renamed[target] = source

    for node in graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = renamed.get(name, name)
        if node.op_type == "Loop" and node.domain in ("", "ai.onnx"):
            dropped, final_values = _drop_pass_through_state(node)
            kept.append(node)
            for target, source in final_values.items():
                forward(target, source, f"{node.name}/{target}")
            changed += dropped
        elif not is_no_op(node):
            kept.append(node)
        elif node.op_type == "Identity" and node.output[0] in graph_outputs:
            kept.append(node)  # already what a no-op writing a graph output becomes
        else:
            forward(node.output[0], node.input[0], node.name)
            maybe_unused.update(node.input[1:])
            changed += 1
    del graph.node[:]
    graph.node.extend(kept)
    for node in graph.node:  # subgraphs read outer names directly: rewire them, then clean them
        for attribute in node.attribute:
            for subgraph in _subgraphs(attribute):
                _rename_inputs(subgraph, renamed)
                changed += _remove_no_ops(subgraph, constants)
    stale = [v for v in graph.value_info if v.name in renamed]
    for value in stale:
        graph.value_info.remove(value)

    used = _names_read(graph) | graph_outputs
    dead = maybe_unused - used
    for tensor in [t for t in graph.initializer if t.name in dead]:
        graph.initializer.remove(tensor)
    for node in [n for n in graph.node if n.op_type == "Constant" and n.output[0] in dead]:
        graph.node.remove(node)
    return changed


def _drop_pass_through_state(loop):
    """Drops the values `loop` carries whose body output is the body input (see `remove_no_ops`).

    Returns:
        `(dropped, final_values)`: how many carried values went, and `{the Loop's final-value
        output: the value it started from}` for those with a named output, for the caller to
        rewire.
    """
    from onnx import helper

    body = next(helper.get_attribute_value(a) for a in loop.attribute if a.name == "body")
    carried = len(loop.input) - 2  # inputs: max trip count, condition, then the carried values
    body_outputs = [o.name for o in body.output]
    passed = [k for k in range(carried)
              if loop.input[2 + k] and body.input[2 + k].name == body_outputs[1 + k]
              and body_outputs.count(body.input[2 + k].name) == 1]
    inner = {body.input[2 + k].name: loop.input[2 + k] for k in passed}
    final_values = {loop.output[k]: loop.input[2 + k] for k in passed
                    if k < len(loop.output) and loop.output[k]}
    _rename_inputs(body, inner)
    for value in [v for v in body.value_info if v.name in inner]:
        body.value_info.remove(value)
    for k in reversed(passed):
        del body.input[2 + k]
        del body.output[1 + k]
        del loop.input[2 + k]
        if k < len(loop.output):
            del loop.output[k]
    return len(passed), final_values


def _subgraphs(attribute):
    from onnx import AttributeProto

    if attribute.type == AttributeProto.GRAPH:
        return [attribute.g]
    return list(attribute.graphs) if attribute.type == AttributeProto.GRAPHS else []


def _rename_inputs(graph, renamed):
    """Rewires the nodes and outputs of a subgraph (bound by position) from `renamed`'s keys."""
    for output in graph.output:
        output.name = renamed.get(output.name, output.name)
    for node in graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = renamed.get(name, name)
        for attribute in node.attribute:
            for subgraph in _subgraphs(attribute):
                _rename_inputs(subgraph, renamed)


def _names_read(graph):
    """Every value name a node of `graph` or of its subgraphs reads."""
    names = set()
    for node in graph.node:
        names.update(node.input)
        for attribute in node.attribute:
            for subgraph in _subgraphs(attribute):
                names |= _names_read(subgraph) | {o.name for o in subgraph.output}
    return names


def onnx_outputs(path, inputs, names=None):
    """Runs an ONNX file with ONNX Runtime on the CPU.

    Args:
        path: The `.onnx` file.
        inputs: An array for a single-input model, or a dict from input name to array.
        names: The outputs to return, by name; default all, in the file's order (`to_onnx`
            files list their outputs sorted by name).

    Returns:
        The list of output arrays.
    """
    from kerasrnn.export.version_files import session as load_session

    session = load_session(path)
    if not isinstance(inputs, dict):
        inputs = {session.get_inputs()[0].name: inputs}
    return session.run(names, {name: np.asarray(value) for name, value in inputs.items()})
