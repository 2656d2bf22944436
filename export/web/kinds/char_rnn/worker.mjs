// The page's requests a char model answers, in the page's Web Worker (see worker.mjs):
//   {type: "generate", prime, length, temperature, topK, seed}
//       -> {type: "text", text} per character, then {type: "done", stopped}
// (a {type: "stop"} ends it early).

import { CharGenerator } from "./driver.mjs";

/** The model of a version: a `CharGenerator`. */
export function load(ort, loadFile, card) {
  return CharGenerator.create(ort, loadFile, { card });
}

/** Request type -> (model, message) => its answer, or an async iterable of text pieces. */
export const requests = {
  generate: (model, { prime, length, temperature, topK, seed }) =>
    model.generate(prime, length, { temperature, topK, seed }),
};
