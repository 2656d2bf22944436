// Which driver a model version needs, from its model card.

import { readCard } from "./load.mjs";

/** The model card's `kind` (the training run's) -> the driver's name. */
export const KINDS = { char_rnn: "char", captioner: "captioner", stn_classifier: "stn" };

/**
 * The kind of an exported version: "char" (CharGenerator), "captioner" (Captioner) or "stn"
 * (STNClassifier).
 * @param {import("./load.mjs").LoadFile} loadFile reads a file of the version folder
 * @returns {Promise<"char"|"captioner"|"stn">}
 */
export async function readKind(loadFile) {
  const card = await readCard(loadFile);
  const kind = KINDS[card.kind];
  if (kind === undefined) {
    throw new Error(`the model card names kind ${JSON.stringify(card.kind)}; these drivers run ` +
                    `${Object.keys(KINDS).join(", ")}`);
  }
  return kind;
}
