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
import { checkByteCount, checkImageBytes } from "../web/driver/image_bytes.mjs";
import { kindOf } from "../web/driver/kind.mjs";
import { readCard } from "../web/driver/load.mjs";
import { resizeImage } from "../web/driver/resize.mjs";
import { STNClassifier } from "../web/driver/stn.mjs";

const USAGE = "usage: node example.mjs VERSION_DIR [--prime TEXT] [--length N] [--temperature T] " +
  "[--top-k K] [--seed S] [--image FILE] [--beam K] [--json]";

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
    throw new Error(`${e.message.split("\n").join(" ")} ${USAGE}`);
  }
  if (parsed.values.help) return { help: true };
  if (parsed.positionals.length !== 1) throw new Error(`give one model version folder; ${USAGE}`);
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
      throw new Error(`--${name} does not apply to ${WHAT[kind]} (it takes ${Object.keys(known).map((n) => `--${n}`).join(", ")})`);
    }
  }
  const out = { ...args };
  for (const [name, fallback] of Object.entries(known)) {
    if (out[name] === undefined && fallback === undefined) {
      throw new Error(`${WHAT[kind]} needs --${name} FILE (PNG or JPEG)`);
    }
    if (out[name] === undefined) out[name] = fallback;
  }
  return out;
}

function integer(text, name) {
  if (!/^-?\d+$/.test(text.trim())) throw new Error(`--${name} must be an integer, got ${JSON.stringify(text)}`);
  return Number(text);
}

function number(text, name) {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value)) throw new Error(`--${name} must be a number, got ${JSON.stringify(text)}`);
  return value;
}

/** Reads files of the version folder: the drivers' `loadFile`. */
function folderLoader(dir) {
  return (name) => fs.promises.readFile(path.join(dir, name));
}

/**
 * Decodes a PNG or JPEG file to RGBA pixels, after the checks of `limits` (its size in bytes
 * before it is read, the pixels its header claims and the work decoding it may cost, counted
 * from its bytes, before it is decoded) and, if `size` is given
 * ([height, width]), after checking that its header claims that size.
 */
async function decodeImage(file, limits, size = null) {
  let stat;
  try {
    stat = fs.statSync(file);
  } catch (e) {
    throw new Error(`cannot read ${file} (${e.code || e.message})`);
  }
  if (!stat.isFile()) throw new Error(`cannot read ${file} (not a file)`);
  checkByteCount(stat.size, limits, file);
  let bytes;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`cannot read ${file} (${e.code || e.message})`);
  }
  const { format, width, height } = checkImageBytes(bytes, limits, ["png", "jpeg"], file);
  if (size !== null && (height !== size[0] || width !== size[1])) {
    throw new Error(`${file} is ${width} x ${height} pixels; the model takes ${size[1]} x ${size[0]} ` +
                    "(its input size): resize it first");
  }
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

async function runChar(ort, loadFile, card, args, out) {
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

async function runCaptioner(ort, loadFile, card, args, out) {
  const captioner = await Captioner.create(ort, loadFile, { card });
  const beam = integer(args.beam, "beam");
  try {
    captioner.check({ beam });  // before the image is read
  } catch (e) {
    throw new Error(`--${e.message}`);  // "--beam must be between ...": the option as typed
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

async function runSTN(ort, loadFile, card, args, out) {
  const classifier = await STNClassifier.create(ort, loadFile, { card });
  const image = await decodeImage(args.image, {}, classifier.inputShape);
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
  const card = await readCard(loadFile);
  const kind = kindOf(card);
  const request = forKind(args, kind);
  let ort;
  try {
    ort = (await import("onnxruntime-node")).default;
  } catch (e) {
    throw new Error("onnxruntime-node is not installed; run `npm ci --ignore-scripts` in export/node");
  }
  const run = { char: runChar, captioner: runCaptioner, stn: runSTN }[kind];
  await run(ort, loadFile, card, request, process.stdout);
}

main(process.argv.slice(2)).catch((e) => {
  process.stderr.write(`error: ${String((e && e.message) || e).split("\n")[0]}\n`);
  process.exitCode = 2;  // as the Python scripts: an input the user can fix
});
