// The char model in the Node.js example (export/node/example.mjs): its options and output.

import { CharGenerator } from "./driver.mjs";

export const WHAT = "a char model";

/** The options it reads: `{name: {value (in the usage line), default (undefined: required)}}`. */
export const OPTIONS = {
  prime: { value: "TEXT", default: "" }, length: { value: "N", default: "200" },
  temperature: { value: "T", default: "1" }, "top-k": { value: "K", default: "0" }, seed: { value: "S", default: "0" },
};

/**
 * Prints the characters generated after --prime as they come (with --json, one {text} object).
 * @param {Object} ort onnxruntime-node
 * @param {import("../../driver/load.mjs").LoadFile} loadFile reads a file of the version folder
 * @param {Object} card the version's model card
 * @param {Object} args the options, defaults filled in (strings)
 * @param {{write: function(string)}} out where to print
 * @param {{integer: function, number: function}} tools the example's option readers
 */
export async function run(ort, loadFile, card, args, out, { integer, number }) {
  const generator = await CharGenerator.create(ort, loadFile, { card });
  integer(args.seed, "seed");  // checked here, passed on as a decimal string: exact beyond 2**53
  const options = { temperature: number(args.temperature, "temperature"), topK: integer(args["top-k"], "top-k"),
                    seed: args.seed.trim() };
  let text = "";
  // generate checks the request before its first character: a bad one fails before anything is printed
  for await (const c of generator.generate(args.prime, integer(args.length, "length"), options)) {
    if (args.json) text += c;
    else out.write(c);
  }
  if (args.json) out.write(JSON.stringify({ text }) + "\n");
  else out.write("\n");
  await generator.release();
}
