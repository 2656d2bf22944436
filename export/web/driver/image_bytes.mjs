// Encoded image files before decoding: their format, the size their header claims and the work
// decoding them may cost, checked against a captioner export's limits (`max_image_bytes`,
// `max_image_pixels`, `image_formats`, `max_decode_work`), so a huge, unexpected or costly file
// is refused before anything decodes it. The work is counted as Python's
// `kerasrnn.data.image_files.decode_work` counts it (docs/security.md states the model).

/** Most scans (SOS markers) a JPEG may hold when its decoding work is checked. */
export const JPEG_MAX_SCANS = 100;
/** Most bytes zlib's inflate can write per compressed byte. */
export const INFLATE_MAX_RATIO = 1032;

/**
 * The format and size an encoded image's header claims.
 * @param {Uint8Array} bytes the file
 * @returns {{format: "png"|"jpeg"|"bmp", width: number, height: number, components?: number,
 *   bitDepth?: number, colorType?: number, interlaced?: boolean, bitsPerPixel?: number}|null}
 *   null when the bytes are none of these formats or the header is cut short; components for a
 *   JPEG (its frame's), bitDepth, colorType and interlaced for a PNG, bitsPerPixel for a BMP
 */
export function sniffImage(bytes) {
  const b = bytes;
  const u16 = (i) => (b[i] << 8) | b[i + 1];
  const u32 = (i) => ((b[i] << 24) >>> 0) + (b[i + 1] << 16) + (b[i + 2] << 8) + b[i + 3];
  if (b.length >= 29 && [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a].every((v, i) => b[i] === v)) {
    return { format: "png", width: u32(16), height: u32(20), bitDepth: b[24], colorType: b[25],
             interlaced: b[28] === 1 };
  }
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) {
    let i = 2;
    while (i + 9 < b.length) {
      if (b[i] !== 0xff) return null;
      const marker = b[i + 1];
      if (marker === 0xff) { i += 1; continue; }
      if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { i += 2; continue; }
      if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
        return { format: "jpeg", width: u16(i + 7), height: u16(i + 5), components: b[i + 9] };
      }
      i += 2 + u16(i + 2);
    }
    return null;
  }
  if (b.length >= 30 && b[0] === 0x42 && b[1] === 0x4d) {
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    return { format: "bmp", width: Math.abs(view.getInt32(18, true)), height: Math.abs(view.getInt32(22, true)),
             bitsPerPixel: view.getUint16(28, true) };
  }
  return null;
}

/**
 * The number of `FF DA` (start of scan) byte pairs in a file: never fewer than the scans a JPEG
 * decoder reads (in entropy-coded data FF is followed by 00 or a restart marker).
 * @param {Uint8Array} bytes
 * @returns {number}
 */
export function jpegScans(bytes) {
  let scans = 0;
  for (let i = bytes.indexOf(0xff); i >= 0 && i + 1 < bytes.length; i = bytes.indexOf(0xff, i + 1)) {
    if (bytes[i + 1] === 0xda) scans += 1;
  }
  return scans;
}

/**
 * The work of decoding an image, counted from its bytes before any decoder runs (units of about
 * one byte a decoder writes or one coefficient it touches; docs/security.md):
 * JPEG: scans x components x height x width, sides rounded up to a multiple of 32;
 * PNG: 1032 x the file's bytes + (2 if interlaced, else 1) x height x (1 + ceil(width x channels
 * x bit depth / 8)); BMP: height x width x max(bits per pixel, 8) / 8, rows rounded up to 4 bytes.
 * @param {Uint8Array} bytes the file
 * @param {ReturnType<typeof sniffImage>} header `sniffImage(bytes)`, not null
 * @returns {{work: number, scans: number}} scans: the JPEG's (`jpegScans`), 0 for other formats
 */
export function decodeWork(bytes, header) {
  const { width: w, height: h } = header;
  if (header.format === "jpeg") {
    const scans = jpegScans(bytes);
    const pad = (side) => Math.ceil(side / 32) * 32;
    return { work: scans * header.components * pad(h) * pad(w), scans };
  }
  if (header.format === "png") {
    const channels = [1, 0, 3, 1, 2, 0, 4][Math.min(header.colorType, 6)];
    const rows = h * (1 + Math.ceil((w * channels * header.bitDepth) / 8));
    return { work: INFLATE_MAX_RATIO * bytes.length + (header.interlaced ? 2 : 1) * rows, scans: 0 };
  }
  return { work: h * Math.ceil((w * Math.max(header.bitsPerPixel, 8)) / 32) * 4, scans: 0 };
}

/**
 * Checks an image's decoding work against `limits.max_decode_work` (if set; an export made
 * before that limit has none, and nothing is checked) and, then, a JPEG's scans against
 * `JPEG_MAX_SCANS`.
 * @param {Uint8Array} bytes the file
 * @param {ReturnType<typeof sniffImage>} header `sniffImage(bytes)`, not null
 * @param {{max_decode_work?: number}} limits
 * @param {string} [name] the file's name, for the message
 */
export function checkDecodeWork(bytes, header, limits, name = "the image") {
  if (limits.max_decode_work === undefined || limits.max_decode_work === null) return;
  const { work, scans } = decodeWork(bytes, header);
  if (scans > JPEG_MAX_SCANS) {
    throw new Error(`${name} needs too much decoding: a JPEG of at most ${JPEG_MAX_SCANS} scans is ` +
                    `accepted; it holds ${scans}`);
  }
  if (work > limits.max_decode_work) {
    throw new Error(`${name} needs too much decoding: at most ${limits.max_decode_work} units of work ` +
                    `(max_decode_work); it needs ${work}`);
  }
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
 * @param {{max_image_bytes?: number, max_image_pixels?: number, image_formats?: string[],
 *   max_decode_work?: number}} limits
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
  checkDecodeWork(bytes, header, limits, name);
  return header;
}
