// The page: starts the worker (worker.mjs, where ONNX Runtime Web and the model run; it reads the
// served model's card) and shows the controls of the model's kind. Everything the model computes
// arrives as messages from the worker; this thread only decodes images and draws.
//
// For scripts driving the page (the tests): <body data-state> is "loading", "busy", "ready" or
// "error" (the last request failed; #error holds its message), and <body data-runs> counts the
// requests that finished, failed ones included. #caption-attention's data-weights holds the
// attention weights of the word drawn (JSON); #stn-draw's data-input the image last classified,
// as the classifier got it (base64 of its RGBA bytes, the model's input size).

import { checkByteCount, checkImageBytes, checkPixelCount, sniffImage } from "./driver/image_bytes.mjs";

const $ = (id) => document.getElementById(id);
// Bounds on an image file, where the export's onnx/limits.json sets none: a captioner export's
// defaults (a captioner's limits.json sets its own; a digit classifier's sets none).
const DEFAULT_IMAGE_LIMITS = { max_image_bytes: 8 * 2 ** 20, max_image_pixels: 4096 * 4096 };

let card = null;
let kind = null;
let imageLimits = DEFAULT_IMAGE_LIMITS;  // the export's limits over the defaults, once loaded
let worker = null;
let pending = null;  // {resolve, reject, onText} of the request the worker is answering

// -- state, status and errors ------------------------------------------------------------------

function setState(state) {
  document.body.dataset.state = state;
  const busy = state === "busy" || state === "loading";
  for (const id of ["generate", "caption-button", "stn-classify"]) $(id).disabled = busy || !kind;
  $("stop").disabled = !(busy && kind === "char");
}

function setStatus(text) {
  $("status").textContent = text;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

function clearError() {
  $("error").textContent = "";
  $("error").hidden = true;
}

// Runs one request: busy meanwhile, its Error's message shown in the page if it fails.
async function run(label, job) {
  if (document.body.dataset.state === "busy" || !kind) return;
  clearError();
  setState("busy");
  setStatus(label);
  const started = performance.now();
  try {
    const done = await job();
    setStatus(done ?? `Done in ${((performance.now() - started) / 1000).toFixed(2)} s.`);
    setState("ready");
  } catch (error) {
    setStatus("");
    showError(error?.message ?? String(error));
    setState("error");
  } finally {
    document.body.dataset.runs = String(Number(document.body.dataset.runs) + 1);
  }
}

// -- the worker --------------------------------------------------------------------------------

function request(message, onText) {
  return new Promise((resolve, reject) => {
    pending = { resolve, reject, onText };
    worker.postMessage(message);
  });
}

function startWorker() {
  worker = new Worker(new URL("./worker.mjs", import.meta.url), { type: "module" });
  worker.onmessage = (event) => {
    const message = event.data;
    if (message.type === "text") {
      pending?.onText?.(message.text);
      return;
    }
    const answered = pending;
    pending = null;
    if (!answered) return;
    if (message.type === "error") answered.reject(new Error(message.message));
    else answered.resolve(message);
  };
  worker.onerror = (event) => {
    event.preventDefault();
    const answered = pending;
    pending = null;
    const why = event.message || "it could not be loaded (the browser console says why)";
    answered?.reject(new Error(`the page's worker failed: ${why}`));
  };
}

// -- images ------------------------------------------------------------------------------------

// A File -> ImageBitmap, refusing files over the limits and files the browser cannot decode. The
// file's size is checked before it is read, the pixels a PNG, JPEG or BMP header claims before
// it is decoded (the drivers' checks); other formats the browser decodes (GIF, WebP, ...) are
// checked once decoded.
async function decodeFile(file) {
  const name = file.name || "the file";
  const { max_image_bytes, max_image_pixels, max_decode_work } = imageLimits;  // any format the browser decodes
  const limits = { max_image_bytes, max_image_pixels, max_decode_work };
  checkByteCount(file.size, limits, name);
  const bytes = new Uint8Array(await file.arrayBuffer());
  const sniffed = sniffImage(bytes) !== null;
  if (sniffed) checkImageBytes(bytes, limits, ["png", "jpeg", "bmp"], name);
  let bitmap;
  try {
    const options = { colorSpaceConversion: "none", premultiplyAlpha: "none" };
    bitmap = await createImageBitmap(new Blob([bytes]), options);
  } catch {
    throw new Error(`${name} is not an image the browser can decode (PNG, JPEG, GIF, WebP, BMP)`);
  }
  if (!sniffed) {
    try {
      checkPixelCount(bitmap.width, bitmap.height, limits, name);
    } catch (error) {
      bitmap.close();
      throw error;
    }
  }
  return bitmap;
}

// An ImageBitmap -> {data (RGBA), width, height}, pixel for pixel.
function rgbaOf(bitmap) {
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  const { data, width, height } = context.getImageData(0, 0, bitmap.width, bitmap.height);
  return { data, width, height };
}

// Any drawable -> {data (RGBA), width, height} at size x size. An image already that size is
// copied pixel for pixel; others are resized on a canvas (bilinear, the browser's "high").
function pixelsOf(source, size) {
  const canvas = new OffscreenCanvas(size, size);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = "high";
  context.drawImage(source, 0, 0, size, size);
  const { data, width, height } = context.getImageData(0, 0, size, size);
  return { data, width, height };
}

// A file chosen or dropped on `zone` -> onFile(file), its name shown in the zone's `.file-name`
// (the file input itself is emptied, so that choosing the same file again is a new choice, and
// is hidden: it would say that no file is chosen).
function dropZone(zone, input, onFile) {
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

// -- char model --------------------------------------------------------------------------------

function integerField(id, label) {
  const text = $(id).value.trim();
  if (!/^-?\d+$/.test(text)) throw new Error(`${label} must be a whole number, got "${text}"`);
  return Number(text);
}

function numberField(id, label) {
  const text = $(id).value.trim();
  const value = Number(text);
  if (text === "" || !Number.isFinite(value)) throw new Error(`${label} must be a number, got "${text}"`);
  return value;
}

function setUpChar() {
  $("char-form").noValidate = true;  // the driver checks the values against the model's limits
  $("char-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run("Generating…", async () => {
      const prime = $("prime").value;
      const length = integerField("length", "Length");
      const temperature = numberField("temperature", "Temperature");
      const topK = integerField("top-k", "Top-k");
      const seed = $("seed").value.trim();
      if (!/^-?\d+$/.test(seed)) throw new Error(`Seed must be a whole number, got "${seed}"`);
      $("char-prime").textContent = prime;
      $("char-text").textContent = "";
      const text = $("char-text");
      const answer = await request({ type: "generate", prime, length, temperature, topK, seed },
                                   (piece) => text.append(piece));
      return answer.stopped ? "Stopped." : undefined;
    });
  });
  $("stop").addEventListener("click", () => worker.postMessage({ type: "stop" }));
}

// -- captioner ---------------------------------------------------------------------------------

let captionImage = null;  // {data, width, height}: the decoded image (the worker resizes it)
let attentionMaps = [];
let attentionGrid = null;  // [rows, columns] of the image locations the maps weigh

function showAttention(index) {
  const canvas = $("caption-attention");
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  for (const word of $("caption-words").querySelectorAll(".word")) {
    word.classList.toggle("shown", Number(word.dataset.index) === index);
  }
  const map = attentionMaps[index];
  delete canvas.dataset.weights;
  if (!map) return;
  canvas.dataset.weights = JSON.stringify(Array.from(map));
  if (!attentionGrid || attentionGrid[0] * attentionGrid[1] !== map.length) return;  // no grid to draw on
  const [rows, columns] = attentionGrid;
  const most = Math.max(...map) || 1;
  const grid = new ImageData(columns, rows);
  for (let i = 0; i < map.length; i++) {
    // Unattended cells dimmed, attended ones lit in amber (the smooth upscaling blends them).
    const w = map[i] / most;
    grid.data.set([255 * w, 190 * w, 40 * w, 255 * (0.62 * (1 - w) + 0.42 * w)], 4 * i);
  }
  const small = new OffscreenCanvas(columns, rows);
  small.getContext("2d").putImageData(grid, 0, 0);
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = "high";
  context.drawImage(small, 0, 0, canvas.width, canvas.height);
  canvas.dataset.word = String(index);
}

function showCaption({ tokens, words, attention, grid }) {
  attentionMaps = attention;
  attentionGrid = grid;
  const line = $("caption-words");
  line.replaceChildren();
  line.dataset.tokens = tokens.join(" ");
  words.forEach((word, index) => {
    const span = document.createElement("span");
    span.className = "word";
    span.dataset.index = String(index);
    span.textContent = word;
    span.addEventListener("mouseenter", () => showAttention(index));
    span.addEventListener("click", () => showAttention(index));
    line.append(span, " ");
  });
  if (!words.length) line.textContent = "(an empty caption)";
  showAttention(0);
}

async function captionNow() {
  if (!captionImage) throw new Error("Choose or drop an image first");
  const beam = integerField("beam", "Beam width");
  showCaption(await request({ type: "caption", image: captionImage, beam }));
}

function setUpCaptioner() {
  dropZone($("caption-drop"), $("caption-file"), (file) => run("Captioning…", async () => {
    captionImage = null;
    $("caption-words").replaceChildren();
    delete $("caption-words").dataset.tokens;
    $("caption-attention").getContext("2d").clearRect(0, 0, 256, 256);
    const display = $("caption-image").getContext("2d");
    display.clearRect(0, 0, 256, 256);
    const bitmap = await decodeFile(file);
    captionImage = rgbaOf(bitmap);
    display.imageSmoothingQuality = "high";
    display.drawImage(bitmap, 0, 0, display.canvas.width, display.canvas.height);
    bitmap.close();
    await captionNow();
  }));
  $("caption-button").addEventListener("click", () => run("Captioning…", captionNow));
}

// -- STN classifier ----------------------------------------------------------------------------

let stnImage = null;  // {data, width, height} at the model's input size

function clearDrawing() {
  const context = $("stn-draw").getContext("2d");
  context.fillStyle = "black";
  context.fillRect(0, 0, 280, 280);
  stnImage = null;
}

// `rectified`: STNClassifier#classify's {data (floats in [0, 1]-ish), width, height, channels
// (1 or 3)}, or null (a plain CNN); drawn scaled up on the rectified canvas.
function showRectified(rectified) {
  const canvas = $("stn-rectified");
  $("stn-rectified-figure").hidden = !rectified;
  if (!rectified) return;
  const { data, width, height, channels } = rectified;
  const pixels = new ImageData(width, height);
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) {
      const v = data[i * channels + Math.min(c, channels - 1)];
      pixels.data[4 * i + c] = Math.round(255 * Math.min(1, Math.max(0, v)));
    }
    pixels.data[4 * i + 3] = 255;
  }
  const small = new OffscreenCanvas(width, height);
  small.getContext("2d").putImageData(pixels, 0, 0);
  const context = canvas.getContext("2d");
  context.imageSmoothingEnabled = false;
  context.drawImage(small, 0, 0, canvas.width, canvas.height);
}

function showProbabilities(probabilities, best) {
  $("stn-class").textContent = `Class ${best} (${(100 * probabilities[best]).toFixed(1)}%)`;
  $("stn-class").dataset.class = String(best);
  $("stn-probabilities").dataset.values = JSON.stringify(probabilities);
  $("stn-probabilities").replaceChildren(...probabilities.map((p, i) => {
    const row = document.createElement("li");
    row.className = i === best ? "best" : "";
    const label = document.createElement("span");
    label.textContent = String(i);
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.style.width = `${(100 * p).toFixed(1)}%`;
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = `${(100 * p).toFixed(1)}%`;
    row.append(label, bar, value);
    return row;
  }));
}

// The drawing as MNIST's digits were prepared: the strokes' bounding box scaled to fit a box of
// 20 / 28 of the input (aspect kept), placed with its centre of mass at the centre.
function drawnDigit(canvas, size) {
  const { data, width, height } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  let [x0, y0, x1, y1] = [width, height, -1, -1];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (data[4 * (y * width + x)] > 0) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    }
  }
  if (x1 < 0) return pixelsOf(canvas, size);  // nothing drawn
  const [w, h] = [x1 - x0 + 1, y1 - y0 + 1];
  const scale = (size * 20 / 28) / Math.max(w, h);
  const place = (dx, dy) => {
    const out = new OffscreenCanvas(size, size);
    const context = out.getContext("2d", { willReadFrequently: true });
    context.fillStyle = "black";
    context.fillRect(0, 0, size, size);
    context.imageSmoothingQuality = "high";
    context.drawImage(canvas, x0, y0, w, h, dx, dy, w * scale, h * scale);
    return context.getImageData(0, 0, size, size);
  };
  const centred = [(size - w * scale) / 2, (size - h * scale) / 2];
  const first = place(...centred);
  let [mass, mx, my] = [0, 0, 0];
  for (let i = 0; i < size * size; i++) {
    const v = first.data[4 * i];
    mass += v; mx += v * (i % size); my += v * Math.floor(i / size);
  }
  const shift = mass ? [(size - 1) / 2 - mx / mass, (size - 1) / 2 - my / mass] : [0, 0];
  const { data: pixels } = place(Math.round(centred[0] + shift[0]), Math.round(centred[1] + shift[1]));
  return { data: pixels, width: size, height: size };
}

async function classifyNow() {
  const size = card.input_shape[0];
  const image = stnImage ?? drawnDigit($("stn-draw"), size);
  $("stn-draw").dataset.input = btoa(String.fromCharCode(...image.data));
  const { probabilities, classId, rectified } = await request({ type: "classify", image });
  showProbabilities(probabilities, classId);
  showRectified(rectified);
}

function classify() {
  run("Classifying…", classifyNow);
}

function setUpSTN() {
  const canvas = $("stn-draw");
  const context = canvas.getContext("2d");
  clearDrawing();
  let drawing = false;
  const at = (event) => {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * (canvas.width / box.width),
            (event.clientY - box.top) * (canvas.height / box.height)];
  };
  canvas.addEventListener("pointerdown", (event) => {
    drawing = true;
    stnImage = null;  // the drawing is the input again
    canvas.setPointerCapture(event.pointerId);
    context.strokeStyle = "white";
    context.lineWidth = 24;
    context.lineCap = "round";
    context.lineJoin = "round";
    context.beginPath();
    context.moveTo(...at(event));
    context.lineTo(...at(event));
    context.stroke();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    context.lineTo(...at(event));
    context.stroke();
  });
  const end = () => {
    if (!drawing) return;
    drawing = false;
    classify();
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  $("stn-clear").addEventListener("click", () => {
    clearDrawing();
    $("stn-class").textContent = "";
    delete $("stn-class").dataset.class;
    delete $("stn-probabilities").dataset.values;
    $("stn-probabilities").replaceChildren();
    $("stn-rectified").getContext("2d").clearRect(0, 0, 140, 140);
  });
  $("stn-classify").addEventListener("click", classify);
  dropZone($("stn-drop"), $("stn-file"), (file) => run("Classifying…", async () => {
    const size = card.input_shape[0];
    const bitmap = await decodeFile(file);
    stnImage = pixelsOf(bitmap, size);
    context.imageSmoothingEnabled = false;
    context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    await classifyNow();
  }));
}

// -- start -------------------------------------------------------------------------------------

const KIND_NAMES = { char: "character model", captioner: "image captioner", stn: "digit classifier" };

async function start() {
  setState("loading");
  try {
    startWorker();
    const answer = await request({ type: "load" });
    ({ kind, card } = answer);
    imageLimits = { ...DEFAULT_IMAGE_LIMITS, ...answer.limits };
  } catch (error) {
    setStatus("");
    showError(`The model did not load: ${error?.message ?? error}`);
    setState("error");
    return;
  }
  $("model-info").textContent = `${card.name}, version ${card.version}: ${KIND_NAMES[kind]}` +
    " running in this tab (ONNX Runtime Web, WebAssembly)";
  ({ char: setUpChar, captioner: setUpCaptioner, stn: setUpSTN })[kind]();
  $(`${kind}-ui`).hidden = false;
  setStatus("Ready.");
  setState("ready");
}

start();
