// The captioner's controls: an image chosen or dropped -> its caption (greedy or beam search, in
// the worker: kinds/captioner/worker.mjs), with the attention map of a word drawn over the image
// (hover over or click a word). For scripts driving the page: #caption-words's data-tokens holds
// the caption's token ids, #caption-attention's data-weights the attention weights of the word
// drawn (JSON) and data-word its index.

import { $, addStyleSheet, decodeFile, dropZone, imageLimits, integerField, rgbaOf } from "../../widgets.mjs";

export const TITLE = "image captioner";

const CONTROLS = `
  <section id="captioner-ui">
    <h2>Caption an image</h2>
    <div class="controls">
      <label id="caption-drop" class="drop">Choose or drop an image
        <input id="caption-file" type="file" accept="image/*">
        <span id="caption-file-name" class="file-name">No image chosen</span></label>
      <label>Beam width <input id="beam" type="number" min="1" step="1" value="3"></label>
      <span class="buttons">
        <button id="caption-button" class="primary" type="button" data-while="idle" disabled>Caption</button>
      </span>
    </div>
    <div class="result">
      <div class="figure">
        <canvas id="caption-image" width="256" height="256"></canvas>
        <canvas id="caption-attention" width="256" height="256"></canvas>
      </div>
      <div>
        <p id="caption-words" class="caption"></p>
        <p class="hint">Hover over or click a word to see where the model looked when it wrote it.</p>
      </div>
    </div>
  </section>`;

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

/** Builds the controls into `main` (see page.mjs for `page`). */
export async function setUp(main, page) {
  main.innerHTML = CONTROLS;
  await addStyleSheet(new URL("./style.css", import.meta.url));
  const limits = imageLimits(page.limits);
  const captionNow = async () => {
    if (!captionImage) throw new Error("Choose or drop an image first");
    const beam = integerField("beam", "Beam width");
    showCaption(await page.request({ type: "caption", image: captionImage, beam }));
  };
  dropZone($("caption-drop"), $("caption-file"), (file) => page.run("Captioning…", async () => {
    captionImage = null;
    $("caption-words").replaceChildren();
    delete $("caption-words").dataset.tokens;
    $("caption-attention").getContext("2d").clearRect(0, 0, 256, 256);
    const display = $("caption-image").getContext("2d");
    display.clearRect(0, 0, 256, 256);
    const bitmap = await decodeFile(file, limits);
    captionImage = rgbaOf(bitmap);
    display.imageSmoothingQuality = "high";
    display.drawImage(bitmap, 0, 0, display.canvas.width, display.canvas.height);
    bitmap.close();
    await captionNow();
  }));
  $("caption-button").addEventListener("click", () => page.run("Captioning…", captionNow));
}
