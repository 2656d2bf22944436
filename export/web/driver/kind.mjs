// Which driver a model version needs, from its model card.

import { readCard } from "./load.mjs";

/** The model card's `kind` (the training run's) -> the driver's name. */
const KINDS = { char_rnn: "char", captioner: "captioner", stn_classifier: "stn" };

/**
 * The kind of a model card (one `readCard` read): "char" (CharGenerator), "captioner"
 * (Captioner) or "stn" (STNClassifier).
 * @param {Object} card the version's model card
 * @returns {"char"|"captioner"|"stn"}
 */
export function kindOf(card) {
  const kind = KINDS[card.kind];
  if (kind === undefined) {
    throw new Error(`the model card names kind ${JSON.stringify(card.kind)}; these drivers run ` +
                    `${Object.keys(KINDS).join(", ")}`);
  }
  return kind;
}

/**
 * The kind of an exported version, its model card read through `loadFile` (see `kindOf`).
 * @param {import("./load.mjs").LoadFile} loadFile reads a file of the version folder
 * @returns {Promise<"char"|"captioner"|"stn">}
 */
export async function readKind(loadFile) {
  return kindOf(await readCard(loadFile));
}
