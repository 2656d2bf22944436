// DRAW's controls: a seed -> a digit drawn step by step, each step's canvas shown scaled up with
// the write window it drew through as a rectangle (its centre g_x, g_y and its extent N delta:
// g +- (N / 2) delta, 1-based pixels); *Draw again* draws for a new seed. A digit drawn by hand on
// the pad is reconstructed (read and redrawn, step by step) with its bound on -log p(x) in nats.
// The model runs in the worker (kinds/draw/worker.mjs); this thread animates what it answers.
// For scripts driving the page: #draw-canvas's data-seed holds the seed last drawn and its
// data-steps the steps drawn so far; #draw-window's data-window the window drawn last (JSON
// [g_x, g_y, delta, sigma]) and data-rect its rectangle on the canvas before it is cut at the
// canvas's edges (JSON [x0, y0, x1, y1]);
// #draw-pad's data-input the image last reconstructed (base64 of its RGBA bytes, the model's
// size); #draw-bound's data-bound its bound in nats; #draw-reconstruction's data-steps the steps
// drawn.

import { $, addStyleSheet, pixelsOf } from "../../widgets.mjs";

export const TITLE = "DRAW generator";

const SIZE = 224;  // the canvases' pixels: 28 x 28 scaled by 8
const FRAME_MS = 1600;  // an animation's length (a step at most 100 ms)

const CONTROLS = `
  <section id="draw-ui">
    <h2>Draw a digit</h2>
    <form id="draw-form" class="controls">
      <label>Seed <input id="draw-seed" type="text" inputmode="numeric" value="0" size="12"></label>
      <span class="buttons">
        <button id="draw-generate" class="primary" type="submit" data-while="idle">Draw</button>
        <button id="draw-again" type="button" data-while="idle">Draw again</button>
      </span>
    </form>
    <p class="hint">The model draws on its canvas step by step through a window (red) it moves,
      scales and blurs. The same seed draws the same digit here, in Python and in TF Serving.</p>
    <div class="result">
      <figure>
        <div class="draw-stage">
          <canvas id="draw-canvas" width="${SIZE}" height="${SIZE}"></canvas>
          <canvas id="draw-window" width="${SIZE}" height="${SIZE}"></canvas>
        </div>
        <figcaption id="draw-step">&nbsp;</figcaption>
      </figure>
    </div>
    <h2>Reconstruct a digit</h2>
    <div class="controls">
      <span class="buttons">
        <button id="draw-reconstruct" class="primary" type="button" data-while="idle">Reconstruct</button>
        <button id="draw-clear" type="button">Clear</button>
      </span>
    </div>
    <div class="result">
      <figure>
        <canvas id="draw-pad" width="${SIZE}" height="${SIZE}"></canvas>
        <figcaption>Draw a digit (white on black)</figcaption>
      </figure>
      <figure>
        <div class="draw-stage">
          <canvas id="draw-reconstruction" width="${SIZE}" height="${SIZE}"></canvas>
          <canvas id="draw-reconstruction-window" width="${SIZE}" height="${SIZE}"></canvas>
        </div>
        <figcaption id="draw-bound">&nbsp;</figcaption>
      </figure>
    </div>
  </section>`;

/** The seed field's whole number, as a decimal string (an Error otherwise). */
function seedField() {
  const text = $("draw-seed").value.trim();
  if (!/^-?\d+$/.test(text)) throw new Error(`Seed must be a whole number, got "${text}"`);
  return text;
}

/** A new seed for *Draw again*: a random non-negative 31-bit integer. */
function newSeed() {
  return String(Math.floor(Math.random() * 2 ** 31));
}

// Draws one image (floats in [0, 1], H x W grey) on `canvas`, each pixel a block.
function drawImage(canvas, pixels, height, width) {
  const data = new ImageData(width, height);
  for (let i = 0; i < width * height; i++) {
    data.data.fill(Math.round(255 * Math.min(1, Math.max(0, pixels[i]))), 4 * i, 4 * i + 3);
    data.data[4 * i + 3] = 255;
  }
  const small = new OffscreenCanvas(width, height);
  small.getContext("2d").putImageData(data, 0, 0);
  const context = canvas.getContext("2d");
  context.imageSmoothingEnabled = false;
  context.drawImage(small, 0, 0, canvas.width, canvas.height);
}

// Draws a write window [g_x, g_y, delta, sigma] (1-based pixels; pixel a spans [a - 1, a]) as a
// rectangle g +- (N / 2) delta on the overlay `canvas` (within the canvas: a window reaching past
// the image is cut at its edges); returns the rectangle [x0, y0, x1, y1], not cut.
function drawWindow(canvas, window, writeSize, height, width) {
  const [gx, gy, delta] = window;
  const [sx, sy] = [canvas.width / width, canvas.height / height];
  const half = (writeSize / 2) * delta;
  const rect = [(gx - half - 0.5) * sx, (gy - half - 0.5) * sy, (gx + half - 0.5) * sx, (gy + half - 0.5) * sy];
  // A window reaching past the image is drawn along the canvas's edge (its visible part).
  const [x0, y0] = [Math.max(1, rect[0]), Math.max(1, rect[1])];
  const [x1, y1] = [Math.min(canvas.width - 1, rect[2]), Math.min(canvas.height - 1, rect[3])];
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  context.strokeStyle = "rgb(255, 40, 40)";
  context.lineWidth = 2;
  if (x1 > x0 && y1 > y0) context.strokeRect(x0, y0, x1 - x0, y1 - y0);
  canvas.dataset.window = JSON.stringify(Array.from(window));
  canvas.dataset.rect = JSON.stringify(rect);
  return rect;
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Shows an answer's canvases step by step on `canvas`, its windows on `overlay`; `caption(t)`
// the text under it after step t.
async function animate(answer, canvas, overlay, caption) {
  const { steps, imageShape: [height, width], writeSize, canvases, windows } = answer;
  const pixels = height * width;
  const frame = Math.min(100, FRAME_MS / steps);
  for (let t = 0; t < steps; t++) {
    drawImage(canvas, canvases.subarray(t * pixels, (t + 1) * pixels), height, width);
    drawWindow(overlay, windows.subarray(4 * t, 4 * t + 4), writeSize, height, width);
    canvas.dataset.steps = String(t + 1);
    caption(t);
    await pause(frame);
  }
}

function clearPad() {
  const context = $("draw-pad").getContext("2d");
  context.fillStyle = "black";
  context.fillRect(0, 0, SIZE, SIZE);
}

/** Builds the controls into `main` (see page.mjs for `page`). */
export async function setUp(main, page) {
  main.innerHTML = CONTROLS;
  await addStyleSheet(new URL("./style.css", import.meta.url));
  const size = page.card.model?.image_shape?.[0] ?? 28;
  for (const id of ["draw-canvas", "draw-reconstruction"]) {
    const context = $(id).getContext("2d");
    context.fillStyle = "black";
    context.fillRect(0, 0, SIZE, SIZE);
  }

  const draw = () => page.run("Drawing…", async () => {
    const seed = seedField();
    const answer = await page.request({ type: "generate", seed });
    $("draw-canvas").dataset.seed = seed;
    await animate(answer, $("draw-canvas"), $("draw-window"),
                  (t) => { $("draw-step").textContent = `Seed ${seed}: step ${t + 1} of ${answer.steps}`; });
  });
  $("draw-form").addEventListener("submit", (event) => {
    event.preventDefault();
    draw();
  });
  $("draw-again").addEventListener("click", () => {
    if (document.body.dataset.state === "busy") return;
    $("draw-seed").value = newSeed();
    draw();
  });

  const pad = $("draw-pad");
  const context = pad.getContext("2d");
  clearPad();
  let drawing = false;
  const at = (event) => {
    const box = pad.getBoundingClientRect();
    return [(event.clientX - box.left) * (pad.width / box.width), (event.clientY - box.top) * (pad.height / box.height)];
  };
  pad.addEventListener("pointerdown", (event) => {
    drawing = true;
    pad.setPointerCapture(event.pointerId);
    Object.assign(context, { strokeStyle: "white", lineWidth: 20, lineCap: "round", lineJoin: "round" });
    context.beginPath();
    context.moveTo(...at(event));
    context.lineTo(...at(event));
    context.stroke();
  });
  pad.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    context.lineTo(...at(event));
    context.stroke();
  });
  const end = () => { drawing = false; };
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);
  $("draw-clear").addEventListener("click", clearPad);
  $("draw-reconstruct").addEventListener("click", () => page.run("Reconstructing…", async () => {
    const seed = seedField();
    const image = pixelsOf(pad, size);
    pad.dataset.input = btoa(String.fromCharCode(...image.data));
    const answer = await page.request({ type: "reconstruct", image, seed });
    const bound = $("draw-bound");
    await animate(answer, $("draw-reconstruction"), $("draw-reconstruction-window"),
                  (t) => { bound.textContent = `Step ${t + 1} of ${answer.steps}`; });
    bound.dataset.bound = String(answer.nllBound);
    bound.textContent = `Bound on -log p(x): ${answer.nllBound.toFixed(2)} nats (seed ${seed})`;
  }));
}
