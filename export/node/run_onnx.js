#!/usr/bin/env node
// Runs ONNX files with ONNX Runtime for Node.js (CPU) for kerasrnn/export/onnx_runtimes.py.
//
// Usage: node run_onnx.js DIR
//
// DIR/request.json: {"graphs": [{"model": "/abs/path.onnx", "inputs": {"name": "file.npy", ...},
//                                "prefix": "g0_out"}, ...]}
// Each input is a C-order little-endian .npy file (float32, float64, int32, int64, uint8, bool).
// Writes every output of graph i as DIR/<prefix><j>.npy and DIR/response.json:
// {"graphs": [{"outputs": {"name": "g0_out0.npy", ...}}, ...]}. Exit status 1 with a one-line
// reason on stderr when a file cannot be read or run.
"use strict";

const fs = require("fs");
const path = require("path");
const ort = require("onnxruntime-node");

const DTYPES = {  // .npy descr -> [ONNX Runtime tensor type, typed array]
  "<f4": ["float32", Float32Array],
  "<f8": ["float64", Float64Array],
  "<i4": ["int32", Int32Array],
  "<i8": ["int64", BigInt64Array],
  "|u1": ["uint8", Uint8Array],
  "|b1": ["bool", Uint8Array],
};

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString("latin1", 1, 6) !== "NUMPY") throw new Error(`${file} is not a .npy file`);
  const major = buf[6];
  const start = major === 1 ? 10 : 12;
  const length = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const header = buf.toString("latin1", start, start + length);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${file} is in Fortran order`);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(",").map((s) => s.trim())
    .filter((s) => s.length > 0).map(Number);
  if (!(descr in DTYPES)) throw new Error(`${file}: dtype ${descr} is not supported`);
  const [type, Typed] = DTYPES[descr];
  const bytes = Uint8Array.from(buf.subarray(start + length));  // a copy, aligned for Typed
  const data = new Typed(bytes.buffer, 0, bytes.length / Typed.BYTES_PER_ELEMENT);
  return new ort.Tensor(type, data, shape);
}

function writeNpy(file, tensor) {
  const descr = Object.keys(DTYPES).find((k) => DTYPES[k][0] === tensor.type);
  if (descr === undefined) throw new Error(`output type ${tensor.type} is not supported`);
  const dims = tensor.dims.map(Number);
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(", ")})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  header += " ".repeat(63 - ((10 + header.length) % 64)) + "\n";  // 10 + header: a multiple of 64
  const prefix = Buffer.alloc(10);
  prefix.write("\x93NUMPY", 0, "latin1");
  prefix[6] = 1;
  prefix[7] = 0;
  prefix.writeUInt16LE(header.length, 8);
  const data = tensor.data;
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  fs.writeFileSync(file, Buffer.concat([prefix, Buffer.from(header, "latin1"), body]));
}

async function main(dir) {
  const request = JSON.parse(fs.readFileSync(path.join(dir, "request.json"), "utf8"));
  const response = { graphs: [] };
  for (const graph of request.graphs) {
    let session;
    try {
      session = await ort.InferenceSession.create(graph.model, { executionProviders: ["cpu"] });
    } catch (e) {
      throw new Error(`${path.basename(graph.model)}: ${String(e.message || e).split("\n")[0]}`);
    }
    const feeds = {};
    for (const [name, file] of Object.entries(graph.inputs)) feeds[name] = readNpy(path.join(dir, file));
    const results = await session.run(feeds);
    const outputs = {};
    session.outputNames.forEach((name, j) => {
      outputs[name] = `${graph.prefix}${j}.npy`;
      writeNpy(path.join(dir, outputs[name]), results[name]);
    });
    response.graphs.push({ outputs });
    await session.release();
  }
  fs.writeFileSync(path.join(dir, "response.json"), JSON.stringify(response));
}

main(process.argv[2]).catch((e) => {
  process.stderr.write(`${String(e.message || e).split("\n")[0]}\n`);
  process.exit(1);
});
