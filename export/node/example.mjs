#!/usr/bin/env node
// Runs an exported kerasrnn model version with ONNX Runtime for Node.js, through the same
// JavaScript drivers the web page uses (export/web/driver/).
//
//   node export/node/example.mjs saved_models/NAME/VERSION --prime "ROMEO:" --length 200 --seed 1
//       char model: prints the generated text as it is generated
//       (--temperature T, default 1, 0 = always the likeliest character; --top-k K, default 0 = all)
//   node export/node/example.mjs saved_models/NAME/VERSION --image photo.jpg [--beam 3]
//       captioner: prints the caption of a PNG or JPEG file (resized to the model's input size)
//   node export/node/example.mjs saved_models/NAME/VERSION --image digit.png
//       digit classifier: prints the class and its probability (the image at the model's size)
//   --json prints one JSON object instead (text; tokens, words, attention; probabilities,
//   rectified image).
//
// Bad input: one line "error: ..." on stderr and exit status 2 (as the Python scripts).
// Install: `npm ci --ignore-scripts` in export/node (onnxruntime-node, and pngjs and jpeg-js,
// pure-JavaScript image decoders). docs/node.md has the details.

import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";

import { Captioner } from "../web/driver/captioner.mjs";
import { CharGenerator } from "../web/driver/char.mjs";
import { checkImageBytes } from "../web/driver/image_bytes.mjs";
import { readKind } from "../web/driver/kind.mjs";
import { resizeImage } from "../web/driver/resize.mjs";
import { STNClassifier } from "../web/driver/stn.mjs";

const USAGE = "usage: node example.mjs VERSION_DIR [--prime TEXT] [--length N] [--temperature T] " +
  "[--top-k K] [--seed S] [--image FILE] [--beam K] [--json]";

class UsageError extends Error {}

function options(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv, allowPositionals: true, strict: true, options: {
        prime: { type: "string" }, length: { type: "string" }, temperature: { type: "string" },
        "top-k": { type: "string" }, seed: { type: "string" }, image: { type: "string" }, beam: { type: "string" },
        json: { type: "boolean", default: false }, help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    throw new UsageError(`${e.message.split("\n").join(" ")} ${USAGE}`);
  }
  if (parsed.values.help) return { help: true };
  if (parsed.positionals.length !== 1) throw new UsageError(`give one model version folder; ${USAGE}`);
  return { dir: parsed.positionals[0], ...parsed.values };
}

// The options each kind of model reads, with their defaults (undefined: required).
const OPTIONS = {
  char: { prime: "", length: "200", temperature: "1", "top-k": "0", seed: "0" },
  captioner: { image: undefined, beam: "1" },
  stn: { image: undefined },
};
const WHAT = { char: "a char model", captioner: "a captioner", stn: "a digit classifier" };

/** The options with the kind's defaults; an option of another kind, or a missing one, is an error. */
function forKind(args, kind) {
  const known = OPTIONS[kind];
  for (const name of Object.keys(OPTIONS).flatMap((k) => Object.keys(OPTIONS[k]))) {
    if (args[name] !== undefined && !(name in known)) {
      throw new UsageError(`--${name} does not apply to ${WHAT[kind]} (it takes ${Object.keys(known).map((n) => `--${n}`).join(", ")})`);
    }
  }
  const out = { ...args };
  for (const [name, fallback] of Object.entries(known)) {
    if (out[name] === undefined && fallback === undefined) {
      throw new UsageError(`${WHAT[kind]} needs --${name} FILE (PNG or JPEG)`);
    }
    if (out[name] === undefined) out[name] = fallback;
  }
  return out;
}

function integer(text, name) {
  if (!/^-?\d+$/.test(text.trim())) throw new UsageError(`--${name} must be an integer, got ${JSON.stringify(text)}`);
  return Number(text);
}

function number(text, name) {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value)) throw new UsageError(`--${name} must be a number, got ${JSON.stringify(text)}`);
  return value;
}

/** Reads files of the version folder: the drivers' `loadFile`. */
function folderLoader(dir) {
  return (name) => fs.promises.readFile(path.join(dir, name));
}

/** Decodes a PNG or JPEG file to RGBA pixels, after the header checks of `limits`. */
async function decodeImage(file, limits) {
  let bytes;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`cannot read ${file} (${e.code || e.message})`);
  }
  const { format } = checkImageBytes(bytes, limits, ["png", "jpeg"], file);
  try {
    if (format === "png") {
      const { PNG } = (await import("pngjs")).default;
      const png = PNG.sync.read(bytes);
      return { data: png.data, width: png.width, height: png.height };
    }
    const jpeg = (await import("jpeg-js")).default;
    const image = jpeg.decode(bytes, {
      useTArray: true, formatAsRGBA: true,
      maxResolutionInMP: (limits.max_image_pixels || 4096 * 4096) / 1e6 + 1, maxMemoryUsageInMB: 1024,
    });
    return { data: image.data, width: image.width, height: image.height };
  } catch (e) {
    throw new Error(`${file} is a damaged ${format.toUpperCase()} image (${String(e.message || e).split("\n")[0]})`);
  }
}

async function runChar(ort, loadFile, args, out) {
  const generator = await CharGenerator.create(ort, loadFile);
  integer(args.seed, "seed");  // checked here, passed on as a decimal string: exact beyond 2**53
  const request = [args.prime, integer(args.length, "length"), {
    temperature: number(args.temperature, "temperature"), topK: integer(args["top-k"], "top-k"),
    seed: args.seed.trim()}];
  generator.check(...request);  // a bad request fails before anything is printed
  let text = "";
  for await (const c of generator.generate(...request)) {
    if (args.json) text += c;
    else out.write(c);
  }
  if (args.json) out.write(JSON.stringify({ text }) + "\n");
  else out.write("\n");
  await generator.release();
}

async function runCaptioner(ort, loadFile, args, out) {
  const captioner = await Captioner.create(ort, loadFile);
  const beam = integer(args.beam, "beam");
  if (beam < 1 || beam > captioner.limits.max_beam_width) {
    throw new UsageError(`--beam must be between 1 (greedy) and ${captioner.limits.max_beam_width} (max_beam_width), got ${beam}`);
  }
  let image = await decodeImage(args.image, captioner.limits);
  const s = captioner.imageSize;
  if (image.width !== s || image.height !== s) image = resizeImage(image, s);
  const result = await captioner.caption(image, { beam });
  if (args.json) {
    out.write(JSON.stringify({ ...result, attention: result.attention.map((a) => Array.from(a)) }) + "\n");
  } else {
    out.write(`${result.text}\n`);
  }
  await captioner.release();
}

async function runSTN(ort, loadFile, args, out) {
  const classifier = await STNClassifier.create(ort, loadFile);
  const image = await decodeImage(args.image, {});
  const result = await classifier.classify(image);
  if (args.json) {
    const r = result.rectified;
    out.write(JSON.stringify({
      classId: result.classId, probabilities: Array.from(result.probabilities), logits: Array.from(result.logits),
      rectified: r && { width: r.width, height: r.height, channels: r.channels, data: Array.from(r.data) },
    }) + "\n");
  } else {
    out.write(`class ${result.classId} (probability ${result.probabilities[result.classId].toFixed(4)})\n`);
  }
  await classifier.release();
}

async function main(argv) {
  const args = options(argv);
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!fs.existsSync(args.dir) || !fs.statSync(args.dir).isDirectory()) {
    throw new Error(`${args.dir} does not exist; give the folder of an exported model version (saved_models/NAME/VERSION)`);
  }
  const loadFile = folderLoader(args.dir);
  const kind = await readKind(loadFile);
  const request = forKind(args, kind);
  let ort;
  try {
    ort = (await import("onnxruntime-node")).default;
  } catch (e) {
    throw new Error("onnxruntime-node is not installed; run `npm ci --ignore-scripts` in export/node");
  }
  const run = { char: runChar, captioner: runCaptioner, stn: runSTN }[kind];
  await run(ort, loadFile, request, process.stdout);
}

main(process.argv.slice(2)).catch((e) => {
  process.stderr.write(`error: ${String((e && e.message) || e).split("\n")[0]}\n`);
  process.exitCode = 2;  // as the Python scripts: an input the user can fix
});
