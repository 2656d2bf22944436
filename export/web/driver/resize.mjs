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
 * result clipped to [0, 1]): `kerasrnn.data.image_files.resize_image` to about 1e-6, in the same
 * order: rows first (through size x width), unless the image is shorter than `size` and wider
 * than tall, then columns first (through height x size), so the intermediate never grows past
 * size / height times the image.
 * @param {import("./pixels.mjs").Image} image RGB or RGBA bytes (or floats in [0, 1])
 * @param {number} size the output width and height
 * @returns {{data: Float32Array, width: number, height: number}} (size * size * 3,) floats
 */
export function resizeImage(image, size) {
  const channels = channelsOf(image, [3, 4]);
  const { width, height, data } = image;
  const floats = isFloat(data);
  const pixel = (y, x, c) => unit(data[(y * width + x) * channels + c], floats);
  const out = new Float32Array(size * size * 3);
  const clip = (v) => Math.min(Math.max(v, 0), 1);  // clipped, as training does
  if (height < size && width > height) {
    const middle = resample(height, pixel, spans(width, size));  // (height, size, 3)
    const rows = resample(size, (x, y, c) => middle[(y * size + x) * 3 + c], spans(height, size));
    // (size, size, 3) with the column outer: transposed into the output's rows
    for (let x = 0; x < size; x++) {
      for (let y = 0; y < size; y++) {
        for (let c = 0; c < 3; c++) out[(y * size + x) * 3 + c] = clip(rows[(x * size + y) * 3 + c]);
      }
    }
  } else {
    const middle = resample(width, (x, y, c) => pixel(y, x, c), spans(height, size));  // (width, size, 3)
    const cols = resample(size, (y, x, c) => middle[(x * size + y) * 3 + c], spans(width, size));
    for (let i = 0; i < size * size * 3; i++) out[i] = clip(cols[i]);
  }
  return { data: out, width: size, height: size };
}

/**
 * One separable pass: for each of `outer` lines and each output position along the line, the
 * weighted sum of `read(line, source, channel)` over the span's sources, in float64.
 * @returns {Float64Array} (outer, outSize, 3), line-major
 */
function resample(outer, read, { starts, weights }) {
  const outSize = starts.length;
  const result = new Float64Array(outer * outSize * 3);
  for (let line = 0; line < outer; line++) {
    for (let o = 0; o < outSize; o++) {
      const w = weights[o];
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let k = 0; k < w.length; k++) sum += w[k] * read(line, starts[o] + k, c);
        result[(line * outSize + o) * 3 + c] = sum;
      }
    }
  }
  return result;
}
