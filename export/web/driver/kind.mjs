// The model kinds these modules run, and where each kind's modules are: `export/web/kinds/KIND/`,
// named by the model card's `kind`, holds
//   driver.mjs   the driver (ONNX Runtime for Node.js or Web; no page, no Node.js-only API)
//   page.mjs     the page's controls for the kind (the browser's main thread)
//   worker.mjs   the page's requests the kind answers (in the page's Web Worker)
//   node.mjs     the kind's options and output in the Node.js example (export/node/example.mjs)
// A new kind is a new folder and its name here.

import { readCard } from "./load.mjs";

/** The model card kinds that have a folder `kinds/KIND/`, sorted. */
export const KINDS = Object.freeze(["captioner", "char_rnn", "draw", "stn_classifier"]);

/** The files of a kind's folder (see above). */
export const KIND_FILES = Object.freeze(["driver.mjs", "page.mjs", "worker.mjs", "node.mjs"]);

/**
 * The kind of a model card (one `readCard` read), checked to be one of `KINDS`.
 * @param {Object} card the version's model card
 * @returns {string} its `kind`, e.g. "char_rnn"
 */
export function kindOf(card) {
  const kind = card?.kind;
  if (!KINDS.includes(kind)) {
    throw new Error(`the model card names kind ${JSON.stringify(kind)}; these drivers run ` +
                    `${KINDS.join(", ")}`);
  }
  return kind;
}

/**
 * The kind of an exported version, its model card read through `loadFile` (see `kindOf`).
 * @param {import("./load.mjs").LoadFile} loadFile reads a file of the version folder
 * @returns {Promise<string>}
 */
export async function readKind(loadFile) {
  return kindOf(await readCard(loadFile));
}

/**
 * The URL of one file of a kind's folder, for `import()`: the path is built only from a kind
 * of `KINDS` and a name of `KIND_FILES`, never from another value (a card's, say).
 * @param {string} kind one of `KINDS`
 * @param {string} file one of `KIND_FILES`
 * @returns {string} its URL (`file:` in Node.js, the page's server in a browser)
 */
export function kindFile(kind, file) {
  if (!KINDS.includes(kind)) throw new Error(`no kind ${JSON.stringify(kind)}; the kinds are ${KINDS.join(", ")}`);
  if (!KIND_FILES.includes(file)) throw new Error(`no kind file ${JSON.stringify(file)}; they are ${KIND_FILES.join(", ")}`);
  return new URL(`../kinds/${kind}/${file}`, import.meta.url).href;
}

/**
 * Imports one module of a kind's folder (see `kindFile`).
 * @param {string} kind one of `KINDS`
 * @param {string} file one of `KIND_FILES`
 * @returns {Promise<Object>} the module
 */
export function importKind(kind, file) {
  return import(kindFile(kind, file));
}
