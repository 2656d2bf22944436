#!/usr/bin/env node
// Runs an exported kerasrnn model version with ONNX Runtime for Node.js, through the same
// JavaScript drivers the web page uses (export/web/driver/ and export/web/kinds/).
//
//   node export/node/example.mjs saved_models/NAME/VERSION --prime "ROMEO:" --length 200 --seed 1
//       char model: prints the generated text as it is generated
//       (--temperature T, default 1, 0 = always the likeliest character; --top-k K, default 0 = all)
//   node export/node/example.mjs saved_models/NAME/VERSION --image photo.jpg [--beam 3]
//       captioner: prints the caption of a PNG or JPEG file (resized to the model's input size)
//   node export/node/example.mjs saved_models/NAME/VERSION --image digit.png
//       digit classifier: prints the class and its probability (the image at the model's size)
//   node export/node/example.mjs saved_models/NAME/VERSION --seed 3 --count 16 --out digits.png
//       DRAW: writes the digits drawn for the seeds 3, 4, ..., 18 as a PNG grid (--count
//       default 1, at most the export's max_rows; --seed default 0)
//   --json prints one JSON object instead (text; tokens, words, attention; probabilities,
//   rectified image; the PNG written).
//
// The kind is read from the model card; each kind's options and output are its
// export/web/kinds/KIND/node.mjs (KIND one of export/web/driver/kind.mjs's table).
// Bad input: one line "error: ..." on stderr and exit status 2 (as the Python scripts).
// Install: `npm ci --ignore-scripts` in export/node (onnxruntime-node, and pngjs and jpeg-js,
// pure-JavaScript image decoders; pngjs also encodes PNGs). docs/node.md has the details.

import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";

import { checkByteCount, checkImageBytes } from "../web/driver/image_bytes.mjs";
import { importKind, KINDS, kindOf } from "../web/driver/kind.mjs";
import { readCard } from "../web/driver/load.mjs";

/** `{kind: its module for this example}` (export/web/kinds/KIND/node.mjs), every kind of the table. */
async function kindModules() {
  const modules = await Promise.all(KINDS.map((kind) => importKind(kind, "node.mjs")));
  return Object.fromEntries(KINDS.map((kind, i) => [kind, modules[i]]));
}

/** `{name: value}` of every option of every kind (the first kind's value of a shared one). */
function kindOptions(kinds) {
  const out = {};
  for (const k of Object.values(kinds)) {
    for (const [name, { value }] of Object.entries(k.OPTIONS)) out[name] ??= value;
  }
  return out;
}

function usage(kinds) {
  const each = Object.entries(kindOptions(kinds)).map(([name, value]) => `[--${name} ${value}]`);
  return `usage: node example.mjs VERSION_DIR ${each.join(" ")} [--json]`;
}

function options(argv, kinds) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv, allowPositionals: true, strict: true, options: {
        ...Object.fromEntries(Object.keys(kindOptions(kinds)).map((name) => [name, { type: "string" }])),
        json: { type: "boolean", default: false }, help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    throw new Error(`${e.message.split("\n").join(" ")} ${usage(kinds)}`);
  }
  if (parsed.values.help) return { help: usage(kinds) };
  if (parsed.positionals.length !== 1) throw new Error(`give one model version folder; ${usage(kinds)}`);
  return { dir: parsed.positionals[0], ...parsed.values };
}

/**
 * The options with the kind's defaults (`OPTIONS` of its node.mjs); an option of another kind,
 * or a missing one, is an error.
 */
function forKind(args, kinds, kind) {
  const { OPTIONS: known, WHAT: what } = kinds[kind];
  for (const name of Object.keys(kindOptions(kinds))) {
    if (args[name] !== undefined && !(name in known)) {
      throw new Error(`--${name} does not apply to ${what} (it takes ${Object.keys(known).map((n) => `--${n}`).join(", ")})`);
    }
  }
  const out = { ...args };
  for (const [name, { default: fallback }] of Object.entries(known)) {
    if (out[name] === undefined && fallback === undefined) {
      throw new Error(`${what} needs --${name} FILE (PNG or JPEG)`);
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

/** RGBA pixels {data, width, height} -> the bytes of a PNG file (pngjs). */
async function encodePng({ data, width, height }) {
  const { PNG } = (await import("pngjs")).default;
  const png = new PNG({ width, height });
  png.data.set(data);
  return PNG.sync.write(png);
}

async function main(argv) {
  const kinds = await kindModules();
  const args = options(argv, kinds);
  if (args.help) {
    process.stdout.write(`${args.help}\n`);
    return;
  }
  if (!fs.existsSync(args.dir) || !fs.statSync(args.dir).isDirectory()) {
    throw new Error(`${args.dir} does not exist; give the folder of an exported model version (saved_models/NAME/VERSION)`);
  }
  const loadFile = folderLoader(args.dir);
  const card = await readCard(loadFile);
  const kind = kindOf(card);
  const request = forKind(args, kinds, kind);
  let ort;
  try {
    ort = (await import("onnxruntime-node")).default;
  } catch (e) {
    throw new Error("onnxruntime-node is not installed; run `npm ci --ignore-scripts` in export/node");
  }
  await kinds[kind].run(ort, loadFile, card, request, process.stdout, { integer, number, decodeImage, encodePng });
}

main(process.argv.slice(2)).catch((e) => {
  process.stderr.write(`error: ${String((e && e.message) || e).split("\n")[0]}\n`);
  process.exitCode = 2;  // as the Python scripts: an input the user can fix
});
