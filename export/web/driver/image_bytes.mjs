// Encoded image files before decoding: their format and the size their header claims, checked
// against a captioner export's limits (`max_image_bytes`, `max_image_pixels`, `image_formats`),
// so a huge or unexpected file is refused before anything decodes it.

/**
 * The format and size an encoded image's header claims.
 * @param {Uint8Array} bytes the file
 * @returns {{format: "png"|"jpeg"|"bmp", width: number, height: number}|null} null when the
 *   bytes are none of these formats or the header is cut short
 */
export function sniffImage(bytes) {
  const b = bytes;
  const u16 = (i) => (b[i] << 8) | b[i + 1];
  const u32 = (i) => ((b[i] << 24) >>> 0) + (b[i + 1] << 16) + (b[i + 2] << 8) + b[i + 3];
  if (b.length >= 24 && [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a].every((v, i) => b[i] === v)) {
    return { format: "png", width: u32(16), height: u32(20) };
  }
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) {
    let i = 2;
    while (i + 9 < b.length) {
      if (b[i] !== 0xff) return null;
      const marker = b[i + 1];
      if (marker === 0xff) { i += 1; continue; }
      if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { i += 2; continue; }
      if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
        return { format: "jpeg", width: u16(i + 7), height: u16(i + 5) };
      }
      i += 2 + u16(i + 2);
    }
    return null;
  }
  if (b.length >= 26 && b[0] === 0x42 && b[1] === 0x4d) {
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    return { format: "bmp", width: Math.abs(view.getInt32(18, true)), height: Math.abs(view.getInt32(22, true)) };
  }
  return null;
}

/**
 * Checks an image file's size in bytes against `limits.max_image_bytes` (if set), before it is
 * read: a caller that knows the size (a `File`, `fs.stat`) need not read a huge file to refuse it.
 * @param {number} count the file's size in bytes
 * @param {{max_image_bytes?: number}} limits
 * @param {string} [name] the file's name, for the message
 */
export function checkByteCount(count, limits, name = "the image") {
  if (limits.max_image_bytes !== undefined && count > limits.max_image_bytes) {
    throw new Error(`${name} has ${count} bytes, more than the model takes (max_image_bytes ` +
                    `${limits.max_image_bytes}); shrink or recompress it`);
  }
}

/**
 * Checks an image's size in pixels against `limits.max_image_pixels` (if set): what its header
 * claims before decoding or, for a format `sniffImage` does not know, its decoded size.
 * @param {number} width
 * @param {number} height
 * @param {{max_image_pixels?: number}} limits
 * @param {string} [name] the file's name, for the message
 */
export function checkPixelCount(width, height, limits, name = "the image") {
  if (limits.max_image_pixels !== undefined && width * height > limits.max_image_pixels) {
    throw new Error(`${name} is ${width} x ${height} pixels, more than the model takes ` +
                    `(max_image_pixels ${limits.max_image_pixels}); shrink it`);
  }
}

/**
 * Checks an encoded image against the export's limits before it is decoded.
 * @param {Uint8Array} bytes the file
 * @param {{max_image_bytes?: number, max_image_pixels?: number, image_formats?: string[]}} limits
 *   a captioner's onnx/limits.json (`Captioner#limits`)
 * @param {string[]} [decodable] the formats the caller can decode
 * @param {string} [name] the file's name, for the message
 * @returns {{format: string, width: number, height: number}}
 */
export function checkImageBytes(bytes, limits, decodable = ["png", "jpeg", "bmp"], name = "the image") {
  checkByteCount(bytes.length, limits, name);
  const header = sniffImage(bytes);
  const allowed = (limits.image_formats || ["png", "jpeg", "bmp"]).filter((f) => decodable.includes(f));
  const names = allowed.map((f) => f.toUpperCase()).join(" or ");
  if (header === null) throw new Error(`${name} is not a ${names} image (or its header is damaged)`);
  if (!allowed.includes(header.format)) {
    throw new Error(`${name} is a ${header.format.toUpperCase()} image; give a ${names} image`);
  }
  if (header.width < 1 || header.height < 1) throw new Error(`${name}'s header claims an empty image`);
  checkPixelCount(header.width, header.height, limits, name);
  return header;
}
