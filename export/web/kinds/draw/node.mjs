// DRAW in the Node.js example (export/node/example.mjs): its options and output, a PNG of the
// digits drawn for --count seeds from --seed.

import fs from "node:fs";

import { DRAWGenerator } from "./driver.mjs";

export const WHAT = "a DRAW model";

/** The options it reads: `{name: {value (in the usage line), default (undefined: required)}}`. */
export const OPTIONS = {
  seed: { value: "S", default: "0" }, count: { value: "K", default: "1" }, out: { value: "FILE.png", default: "" },
};

/**
 * The images (rows, H, W, 1) as one grey RGBA grid, row by row: ceil(sqrt(rows)) columns, each
 * pixel round(255 p) of its probability p, cells past the last image black.
 * @returns {{data: Uint8Array, width: number, height: number}}
 */
export function grid(images, rows, [height, width]) {
  const columns = Math.ceil(Math.sqrt(rows));
  const lines = Math.ceil(rows / columns);
  const [W, H] = [columns * width, lines * height];
  const data = new Uint8Array(W * H * 4);
  for (let i = 3; i < data.length; i += 4) data[i] = 255;
  for (let b = 0; b < rows; b++) {
    const [x0, y0] = [(b % columns) * width, Math.floor(b / columns) * height];
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const v = Math.round(255 * Math.min(1, Math.max(0, images[(b * height + y) * width + x])));
        data.fill(v, ((y0 + y) * W + x0 + x) * 4, ((y0 + y) * W + x0 + x) * 4 + 3);
      }
    }
  }
  return { data, width: W, height: H };
}

/**
 * Draws --count digits, for the seeds --seed, --seed + 1, ..., and writes them to --out as a
 * PNG grid (`grid`); prints where (with --json, {out, seeds, width, height}).
 * @param {Object} ort onnxruntime-node
 * @param {import("../../driver/load.mjs").LoadFile} loadFile reads a file of the version folder
 * @param {Object} card the version's model card
 * @param {Object} args the options, defaults filled in (strings)
 * @param {{write: function(string)}} out where to print
 * @param {{integer: function, encodePng: function}} tools the example's option reader and PNG encoder
 */
export async function run(ort, loadFile, card, args, out, { integer, encodePng }) {
  if (!args.out) throw new Error("a DRAW model needs --out FILE.png, the PNG file the digits are written to");
  if (!args.out.toLowerCase().endsWith(".png")) throw new Error(`--out must name a .png file, got ${JSON.stringify(args.out)}`);
  integer(args.seed, "seed");  // checked here, used as a BigInt: exact beyond 2**53
  const count = integer(args.count, "count");
  const generator = await DRAWGenerator.create(ort, loadFile, { card });
  const most = generator.limits.max_rows;
  if (count < 1 || count > most) throw new Error(`--count must be between 1 and ${most} (the export's max_rows), got ${count}`);
  const first = BigInt(args.seed.trim());
  const seeds = Array.from({ length: count }, (_, i) => first + BigInt(i));
  const { images } = await generator.generate(seeds);
  const png = grid(images, count, generator.imageShape);
  fs.writeFileSync(args.out, await encodePng(png));
  if (args.json) {
    out.write(JSON.stringify({ out: args.out, seeds: seeds.map(String), width: png.width, height: png.height }) + "\n");
  } else {
    out.write(`wrote ${args.out}: ${count} digit${count > 1 ? "s" : ""} (seed ${seeds[0]}` +
              `${count > 1 ? ` to ${seeds[count - 1]}` : ""}), ${png.width} x ${png.height} pixels\n`);
  }
  await generator.release();
}
