"""The captioner cut into the two Keras models its ONNX files hold: the encoder (images ->
annotations, projected annotations, initial states) and one decoder step."""

import keras


def annotation_model(model):
    """The encoder part of a `build_captioner` model as a model: images -> annotations `(B, L, D)`."""
    return keras.Model(model.inputs[0], model.get_layer("annotations").output, name="annotations")


def onnx_models(model):
    """`(encoder, decoder_step)` Keras models for the ONNX files (see the module docstring)."""
    decoder = model.get_layer("decoder")
    annotations = model.get_layer("annotations").output
    projected = decoder.attention.project_annotations(annotations)
    states = decoder.initial_state(annotations)
    encoder = keras.Model(model.inputs[0], [annotations, projected, *states], name="encoder")
    tokens = keras.Input((), dtype="int32", name="tokens")
    ann_in = keras.Input(annotations.shape[1:], name="annotations")
    proj_in = keras.Input(projected.shape[1:], name="projected")
    state_in = [keras.Input(s.shape[1:], name=f"state_{i}") for i, s in enumerate(states)]
    logits, new_states, weights = decoder.step(tokens, state_in, ann_in, proj_in)
    step = keras.Model([tokens, ann_in, proj_in, *state_in], [logits, *new_states, weights],
                       name="decoder_step")
    return encoder, step
