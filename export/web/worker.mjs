// The page's Web Worker: loads ONNX Runtime Web and the served model, runs every request off the
// page's thread, so the tab stays responsive while a model computes.
//
// Messages from the page, one at a time (the page waits for each answer):
//   {type: "load"}                                        -> {type: "ready", kind}
//   {type: "generate", prime, length, temperature, topK, seed}
//                                                         -> {type: "text", text} per piece, then {type: "done"}
//   {type: "stop"}                                        (ends a generation early, then "done")
//   {type: "caption", image, beam}                        -> {type: "caption", tokens, words, attention, grid}
//   {type: "classify", image}                             -> {type: "classified", probabilities, rectified}
// and {type: "error", message} instead of an answer when the request (or the model) fails.
// `image` is {data: RGBA Uint8ClampedArray, width, height}. Model files come from `model/`, the
// server's view of the exported version (see export/serve_web.py).

import * as ort from "./ort/ort.wasm.min.mjs";

// Single-threaded WASM: multi-threaded WASM needs a cross-origin isolated page (COOP/COEP
// headers), and these models are small enough for one thread.
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = new URL("./ort/", import.meta.url).href;

const DRIVERS = {
  char: ["./driver/char.mjs", "CharGenerator"],
  captioner: ["./driver/captioner.mjs", "Captioner"],
  stn: ["./driver/stn.mjs", "STNClassifier"],
};

let model = null;
let kind = null;
let stopRequested = false;
const queue = [];
let working = false;

async function loadFile(path) {
  const url = new URL("model/" + path, self.location.href);
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new Error(`cannot load the model's ${path}: ${error.message} (is the server still running?)`);
  }
  if (!response.ok) throw new Error(`cannot load the model's ${path}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

// Lets the worker read messages that came in meanwhile (a "stop"): a message-channel round trip,
// without the few milliseconds a setTimeout may wait.
function yieldToMessages() {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

async function load() {
  const { readKind } = await import("./driver/kind.mjs");
  kind = await readKind(loadFile);
  if (!(kind in DRIVERS)) throw new Error(`this page cannot run a model of kind ${kind}`);
  const [file, className] = DRIVERS[kind];
  const driver = await import(file);
  model = await driver[className].create(ort, loadFile);
  return { type: "ready", kind };
}

function need(wanted) {
  if (model === null) throw new Error("the model is not loaded yet");
  if (kind !== wanted) throw new Error(`the served model is a ${kind} model, not a ${wanted} model`);
}

async function handle(message) {
  switch (message.type) {
    case "load":
      return load();
    case "generate": {
      need("char");
      stopRequested = false;
      const { prime, length, temperature, topK, seed } = message;
      for await (const text of model.generate(prime, length, { temperature, topK, seed })) {
        self.postMessage({ type: "text", text });
        await yieldToMessages();
        if (stopRequested) break;
      }
      return { type: "done", stopped: stopRequested };
    }
    case "caption": {
      need("captioner");
      const { tokens, words, attention, grid } = await model.caption(message.image, { beam: message.beam });
      return { type: "caption", tokens: Array.from(tokens), words: Array.from(words),
               attention: Array.from(attention, (map) => Array.from(map)), grid: grid ?? null };
    }
    case "classify": {
      need("stn");
      const { probabilities, rectified } = await model.classify(message.image);
      return { type: "classified", probabilities: Array.from(probabilities), rectified: rectified ?? null };
    }
    default:
      throw new Error(`unknown request ${message.type}`);
  }
}

async function work() {
  if (working) return;
  working = true;
  while (queue.length) {
    const message = queue.shift();
    try {
      self.postMessage(await handle(message));
    } catch (error) {
      self.postMessage({ type: "error", message: error?.message ?? String(error) });
    }
  }
  working = false;
}

self.onmessage = (event) => {
  if (event.data?.type === "stop") {
    stopRequested = true;
    return;
  }
  queue.push(event.data);
  work();
};
