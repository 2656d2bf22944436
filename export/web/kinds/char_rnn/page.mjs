// The char model's controls: a prime, length, temperature, top-k and seed -> text, streamed into
// the page as the worker generates it (kinds/char_rnn/worker.mjs); *Stop* ends a generation.
// For scripts driving the page: #char-prime holds the prime of the last request, #char-text
// the text generated after it.

import { $, addStyleSheet, integerField, numberField } from "../../widgets.mjs";

export const TITLE = "character model";

const CONTROLS = `
  <section id="char-ui">
    <h2>Generate text</h2>
    <form id="char-form" class="controls">
      <label class="wide">Prime <textarea id="prime" rows="2" spellcheck="false"></textarea></label>
      <label>Length <input id="length" type="number" min="0" step="1" value="300"></label>
      <label>Temperature <input id="temperature" type="number" min="0" step="0.05" value="0.8"></label>
      <label>Top-k <input id="top-k" type="number" min="0" step="1" value="0"></label>
      <label>Seed <input id="seed" type="text" inputmode="numeric" value="0" size="8"></label>
      <span class="buttons">
        <button id="generate" class="primary" type="submit" data-while="idle">Generate</button>
        <button id="stop" type="button" data-while="busy" disabled>Stop</button>
      </span>
    </form>
    <p class="hint">Temperature 0 picks the likeliest character; top-k 0 samples among all.
      The same prime, settings and seed give the same text here, in Python and in TF Serving.</p>
    <pre id="char-output"><span id="char-prime"></span><span id="char-text"></span></pre>
  </section>`;

/** Builds the controls into `main` (see page.mjs for `page`). */
export async function setUp(main, page) {
  main.innerHTML = CONTROLS;
  await addStyleSheet(new URL("./style.css", import.meta.url));
  $("char-form").noValidate = true;  // the driver checks the values against the model's limits
  $("char-form").addEventListener("submit", (event) => {
    event.preventDefault();
    page.run("Generating…", async () => {
      const prime = $("prime").value;
      const length = integerField("length", "Length");
      const temperature = numberField("temperature", "Temperature");
      const topK = integerField("top-k", "Top-k");
      const seed = $("seed").value.trim();
      if (!/^-?\d+$/.test(seed)) throw new Error(`Seed must be a whole number, got "${seed}"`);
      $("char-prime").textContent = prime;
      $("char-text").textContent = "";
      const text = $("char-text");
      const answer = await page.request({ type: "generate", prime, length, temperature, topK, seed },
                                        (piece) => text.append(piece));
      return answer.stopped ? "Stopped." : undefined;
    });
  });
  $("stop").addEventListener("click", () => page.send({ type: "stop" }));
}
