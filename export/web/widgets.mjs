// What the kinds' page modules (kinds/KIND/page.mjs) share, in the browser's main thread: number
// fields, image files checked and decoded, canvases read back, drop zones, a kind's stylesheet.

import { checkByteCount, checkImageBytes, checkPixelCount, sniffImage } from "./driver/image_bytes.mjs";

/** The element of the page with this id. */
export const $ = (id) => document.getElementById(id);

// Bounds on an image file, where the export's onnx/limits.json sets none: a captioner export's
// defaults (a captioner's limits.json sets its own; a digit classifier's sets none).
const DEFAULT_IMAGE_LIMITS = { max_image_bytes: 8 * 2 ** 20, max_image_pixels: 4096 * 4096 };

/** The image limits a page applies: the export's `limits` over `DEFAULT_IMAGE_LIMITS`. */
export function imageLimits(limits) {
  return { ...DEFAULT_IMAGE_LIMITS, ...limits };
}

/** The whole number in the field `id` (an Error naming it by `label` otherwise). */
export function integerField(id, label) {
  const text = $(id).value.trim();
  if (!/^-?\d+$/.test(text)) throw new Error(`${label} must be a whole number, got "${text}"`);
  return Number(text);
}

/** The finite number in the field `id` (an Error naming it by `label` otherwise). */
export function numberField(id, label) {
  const text = $(id).value.trim();
  const value = Number(text);
  if (text === "" || !Number.isFinite(value)) throw new Error(`${label} must be a number, got "${text}"`);
  return value;
}

/**
 * A File -> ImageBitmap, refusing files over the limits and files the browser cannot decode.
 * The file's size is checked before it is read, the pixels a PNG, JPEG or BMP header claims
 * before it is decoded (the drivers' checks); other formats the browser decodes (GIF, WebP, ...)
 * are checked once decoded.
 * @param {File} file the file chosen or dropped
 * @param {Object} limits `imageLimits(...)`: max_image_bytes, max_image_pixels, max_decode_work
 * @returns {Promise<ImageBitmap>}
 */
export async function decodeFile(file, limits) {
  const name = file.name || "the file";
  const { max_image_bytes, max_image_pixels, max_decode_work } = limits;  // any format the browser decodes
  const checked = { max_image_bytes, max_image_pixels, max_decode_work };
  checkByteCount(file.size, checked, name);
  const bytes = new Uint8Array(await file.arrayBuffer());
  const sniffed = sniffImage(bytes) !== null;
  if (sniffed) checkImageBytes(bytes, checked, ["png", "jpeg", "bmp"], name);
  let bitmap;
  try {
    const options = { colorSpaceConversion: "none", premultiplyAlpha: "none" };
    bitmap = await createImageBitmap(new Blob([bytes]), options);
  } catch {
    throw new Error(`${name} is not an image the browser can decode (PNG, JPEG, GIF, WebP, BMP)`);
  }
  if (!sniffed) {
    try {
      checkPixelCount(bitmap.width, bitmap.height, checked, name);
    } catch (error) {
      bitmap.close();
      throw error;
    }
  }
  return bitmap;
}

/** An ImageBitmap -> {data (RGBA), width, height}, pixel for pixel. */
export function rgbaOf(bitmap) {
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  const { data, width, height } = context.getImageData(0, 0, bitmap.width, bitmap.height);
  return { data, width, height };
}

/**
 * Any drawable -> {data (RGBA), width, height} at size x size. An image already that size is
 * copied pixel for pixel; others are resized on a canvas (bilinear, the browser's "high").
 */
export function pixelsOf(source, size) {
  const canvas = new OffscreenCanvas(size, size);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = "high";
  context.drawImage(source, 0, 0, size, size);
  const { data, width, height } = context.getImageData(0, 0, size, size);
  return { data, width, height };
}

/**
 * A file chosen or dropped on `zone` -> onFile(file), its name shown in the zone's `.file-name`
 * (the file input itself is emptied, so that choosing the same file again is a new choice, and
 * is hidden: it would say that no file is chosen).
 */
export function dropZone(zone, input, onFile) {
  const chosen = (file) => {
    zone.querySelector(".file-name").textContent = file.name || "an image";
    onFile(file);
  };
  input.addEventListener("change", () => {
    if (input.files.length) chosen(input.files[0]);
    input.value = "";
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer.files.length) chosen(event.dataTransfer.files[0]);
  });
}

/**
 * Adds a stylesheet (a kind's `style.css`, its URL relative to the kind's module) to the page;
 * resolves once it is loaded, or failed to (the controls work unstyled).
 * @param {URL|string} url
 * @returns {Promise<void>}
 */
export function addStyleSheet(url) {
  return new Promise((resolve) => {
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = String(url);
    link.onload = link.onerror = () => resolve();
    document.head.append(link);
  });
}
