// The digit classifier's controls: a digit drawn on the canvas (classified when the stroke ends)
// or an image chosen or dropped -> the class probabilities and, for an ST-CNN, the image its
// spatial transformer hands the classifier (in the worker: kinds/stn_classifier/worker.mjs).
// For scripts driving the page: #stn-draw's data-input holds the image last classified, as the
// classifier got it (base64 of its RGBA bytes, the model's input size); #stn-class's data-class
// the class shown, #stn-probabilities's data-values the probabilities (JSON).

import { $, addStyleSheet, decodeFile, dropZone, imageLimits, pixelsOf } from "../../widgets.mjs";

export const TITLE = "digit classifier";

const CONTROLS = `
  <section id="stn-ui">
    <h2>Classify a digit</h2>
    <div class="controls">
      <label id="stn-drop" class="drop">Choose or drop an image
        <input id="stn-file" type="file" accept="image/*">
        <span id="stn-file-name" class="file-name">No image chosen</span></label>
      <span class="buttons">
        <button id="stn-classify" class="primary" type="button" data-while="idle" disabled>Classify</button>
        <button id="stn-clear" type="button">Clear</button>
      </span>
    </div>
    <div class="result">
      <figure>
        <canvas id="stn-draw" width="280" height="280"></canvas>
        <figcaption>Draw a digit (white on black), or pick an image</figcaption>
      </figure>
      <figure id="stn-rectified-figure">
        <canvas id="stn-rectified" width="140" height="140"></canvas>
        <figcaption>What the spatial transformer hands the classifier</figcaption>
      </figure>
      <div>
        <p id="stn-class" class="caption"></p>
        <ol id="stn-probabilities" class="bars" start="0"></ol>
      </div>
    </div>
  </section>`;

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

/** Builds the controls into `main` (see page.mjs for `page`). */
export async function setUp(main, page) {
  main.innerHTML = CONTROLS;
  await addStyleSheet(new URL("./style.css", import.meta.url));
  const limits = imageLimits(page.limits);
  const size = page.card.input_shape[0];
  const canvas = $("stn-draw");
  const context = canvas.getContext("2d");

  const classifyNow = async () => {
    const image = stnImage ?? drawnDigit(canvas, size);
    canvas.dataset.input = btoa(String.fromCharCode(...image.data));
    const { probabilities, classId, rectified } = await page.request({ type: "classify", image });
    showProbabilities(probabilities, classId);
    showRectified(rectified);
  };
  const classify = () => page.run("Classifying…", classifyNow);

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
  dropZone($("stn-drop"), $("stn-file"), (file) => page.run("Classifying…", async () => {
    const bitmap = await decodeFile(file, limits);
    stnImage = pixelsOf(bitmap, size);
    context.imageSmoothingEnabled = false;
    context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    await classifyNow();
  }));
}
