"""Writing a SavedModel that TF Serving's C++ loader restores (Keras's `ExportArchive`), and
describing its signatures for the model card."""

import keras


def write_saved_model(directory, models, endpoints):
    """Writes a SavedModel with Keras's `ExportArchive`; returns its signatures for the model card.

    `ExportArchive` tracks the variables the functions use, so TF Serving's C++ loader (and
    `saved_model_cli run`) restores them; a plain `tf.Module` holding a Keras 3 model loads in
    Python but not there.

    Args:
        directory: The SavedModel folder.
        models: The Keras models whose variables the functions read.
        endpoints: `{signature name: (function, [tf.TensorSpec])}`; each function returns a dict
            of named outputs. The first is also `serving_default`.

    Returns:
        `{signature name: {"inputs": {name: {"dtype", "shape"}}, "outputs": {...}}}`, without
        the `serving_default` alias (the model card names it `default_signature`).
    """
    archive = keras.export.ExportArchive()
    for model in models:
        archive.track(model)
    functions = {name: archive.add_endpoint(name, fn, input_signature=spec)
                 for name, (fn, spec) in endpoints.items()}
    archive.write_out(str(directory), verbose=False)

    def spec(t):
        return {"dtype": t.dtype.name, "shape": None if t.shape.rank is None else t.shape.as_list()}

    described = {}
    for name, fn in functions.items():
        concrete = fn.get_concrete_function()
        described[name] = {
            "inputs": {s.name: spec(s) for s in concrete.structured_input_signature[0]},
            "outputs": {k: spec(v) for k, v in sorted(concrete.structured_outputs.items())}}
    return described
