// The page's requests a DRAW model answers, in the page's Web Worker (see worker.mjs):
//   {type: "generate", seed} -> {type: "drawn", seed, steps, imageShape, writeSize, canvases, windows}
//   {type: "reconstruct", image, seed}
//       -> {type: "reconstructed", seed, steps, imageShape, writeSize, canvases, windows, nllBound}
// `seed` is a decimal string (an int64); `image` {data: RGBA Uint8ClampedArray, width, height}
// at the model's size; `canvases` (steps, H, W, C) pixel probabilities after each step (the last
// one the image), `windows` (steps, 4) each step's write window (g_x, g_y, delta, sigma in
// 1-based pixels), `writeSize` the window's N, `nllBound` the image's bound in nats.

import { DRAWGenerator } from "./driver.mjs";

/** The model of a version: a `DRAWGenerator`. */
export function load(ort, loadFile, card) {
  return DRAWGenerator.create(ort, loadFile, { card });
}

function sizes(model, seed) {
  return { seed, steps: model.steps, imageShape: model.imageShape, writeSize: model.writeSize };
}

/** Request type -> (model, message) => its answer. */
export const requests = {
  async generate(model, { seed }) {
    const { canvases, windows } = await model.generate([seed]);
    return { type: "drawn", ...sizes(model, seed), canvases, windows };
  },
  async reconstruct(model, { image, seed }) {
    const canvases = [];
    const windows = [];
    const onStep = (t, canvas, window) => {
      canvases.push(canvas);
      windows.push(window);
    };
    const { nllBound } = await model.reconstruct([image], [seed], { onStep });
    const flat = (parts, n) => {
      const out = new Float32Array(parts.length * n);
      parts.forEach((part, t) => out.set(part, t * n));
      return out;
    };
    return { type: "reconstructed", ...sizes(model, seed), canvases: flat(canvases, model.pixels),
             windows: flat(windows, 4), nllBound: nllBound[0] };
  },
};
