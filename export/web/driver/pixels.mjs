// Decoded pixels -> the float32 arrays in [0, 1] the exported models read.

/**
 * @typedef {object} Image
 * @property {Uint8Array|Uint8ClampedArray|Float32Array} data row-major pixels, 1 (grey),
 *   3 (RGB) or 4 (RGBA, the alpha ignored) channels; bytes 0..255, or floats in [0, 1]
 * @property {number} width
 * @property {number} height
 */

/**
 * The channel count of an image (data.length / (width * height)), checked.
 * @param {Image} image
 * @param {number[]} allowed e.g. [3, 4]
 * @returns {number}
 */
export function channelsOf(image, allowed) {
  if (!image || !Number.isInteger(image.width) || !Number.isInteger(image.height) || image.width < 1
      || image.height < 1 || !image.data || typeof image.data.length !== "number") {
    throw new Error("image must be {data, width, height} with decoded pixels");
  }
  const channels = image.data.length / (image.width * image.height);
  if (!allowed.includes(channels)) {
    throw new Error(`image data must hold ${allowed.join(" or ")} values per pixel, got ${image.data.length} ` +
                    `values for ${image.width} x ${image.height} pixels`);
  }
  return channels;
}

/**
 * One value in [0, 1] as float32: a byte b becomes float32(b) / float32(255) (what numpy and
 * TensorFlow compute from uint8 pixels; b / 255 in float64 rounded to float32 is that exactly);
 * a float is rounded to float32.
 */
export function unit(value, floats) {
  return floats ? Math.fround(value) : Math.fround(value / 255);
}

/** Whether pixel data holds floats in [0, 1] (a Float32Array or Float64Array), not bytes. */
export function isFloat(data) {
  return data instanceof Float32Array || data instanceof Float64Array;
}

/**
 * RGB floats of an RGB or RGBA image.
 * @param {Image} image
 * @returns {Float32Array} (height * width * 3,) in [0, 1]
 */
export function rgbFloats(image) {
  const channels = channelsOf(image, [3, 4]);
  const n = image.width * image.height;
  const out = new Float32Array(n * 3);
  const floats = isFloat(image.data);
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < 3; c++) out[p * 3 + c] = unit(image.data[p * channels + c], floats);
  }
  return out;
}

/**
 * Grey floats of a grey, RGB or RGBA image: a pixel with R = G = B is that value, another the
 * luma 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601).
 * @param {Image} image
 * @returns {Float32Array} (height * width,) in [0, 1]
 */
export function greyFloats(image) {
  const channels = channelsOf(image, [1, 3, 4]);
  const n = image.width * image.height;
  const out = new Float32Array(n);
  const d = image.data;
  const floats = isFloat(d);
  for (let p = 0; p < n; p++) {
    const i = p * channels;
    if (channels === 1 || (d[i] === d[i + 1] && d[i + 1] === d[i + 2])) {
      out[p] = unit(d[i], floats);
    } else {
      out[p] = unit(0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2], floats);
    }
  }
  return out;
}
