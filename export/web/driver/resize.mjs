// Resizing to the captioner's input size as training and the SavedModel do
// (`tf.image.resize(image / 255, (S, S), "bilinear", antialias=True)` clipped to [0, 1], TensorFlow's
// scale-and-translate with a triangle kernel widened by the scale when shrinking).

import { channelsOf, isFloat, unit } from "./pixels.mjs";

const f = Math.fround;

/**
 * For each output position, the first input index and the normalised float32 weights of the
 * input positions it reads (a triangle kernel of radius max(in / out, 1) input pixels).
 * @returns {{starts: Int32Array, weights: Float32Array[]}}
 */
function spans(inSize, outSize) {
  const invScale = f(1 / f(outSize / inSize));
  const kernelScale = Math.max(invScale, 1);
  const radius = f(kernelScale);  // triangle radius 1, times the kernel scale
  const starts = new Int32Array(outSize);
  const weights = [];
  for (let x = 0; x < outSize; x++) {
    const sample = f(f(x + 0.5) * invScale);
    let start = Math.ceil(f(f(sample - radius) - 0.5));
    let end = Math.floor(f(f(sample + radius) - 0.5));
    start = Math.min(Math.max(start, 0), inSize - 1);
    end = Math.min(Math.max(end, 0), inSize - 1) + 1;
    const w = [];
    let total = 0;
    for (let source = start; source < end; source++) {
      const position = f(f(source + 0.5) - sample);
      const weight = f(Math.max(0, 1 - Math.abs(f(position / kernelScale))));
      total = f(total + weight);
      w.push(weight);
    }
    const norm = f(1 / total);
    starts[x] = start;
    weights.push(Float32Array.from(w, (v) => f(v * norm)));
  }
  return { starts, weights };
}

/**
 * An RGB(A) image resized to size x size RGB floats in [0, 1] (bytes divided by 255 first, the
 * result clipped to [0, 1]): `kerasrnn.data.image_files.resize_image` to about 1e-6.
 * @param {import("./pixels.mjs").Image} image RGB or RGBA bytes (or floats in [0, 1])
 * @param {number} size the output width and height
 * @returns {{data: Float32Array, width: number, height: number}} (size * size * 3,) floats
 */
export function resizeImage(image, size) {
  const channels = channelsOf(image, [3, 4]);
  const { width, height, data } = image;
  const floats = isFloat(data);
  const rows = spans(height, size);
  const cols = spans(width, size);
  // Rows first: (size, width, 3), then columns: (size, size, 3), as TensorFlow gathers.
  const middle = new Float64Array(size * width * 3);
  for (let y = 0; y < size; y++) {
    const w = rows.weights[y];
    for (let k = 0; k < w.length; k++) {
      const src = (rows.starts[y] + k) * width;
      for (let x = 0; x < width; x++) {
        for (let c = 0; c < 3; c++) {
          const value = unit(data[(src + x) * channels + c], floats);
          middle[(y * width + x) * 3 + c] += w[k] * value;
        }
      }
    }
  }
  const out = new Float32Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const w = cols.weights[x];
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let k = 0; k < w.length; k++) sum += w[k] * middle[(y * width + cols.starts[x] + k) * 3 + c];
        out[(y * size + x) * 3 + c] = Math.min(Math.max(sum, 0), 1);  // clipped, as training does
      }
    }
  }
  return { data: out, width: size, height: size };
}
