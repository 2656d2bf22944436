// The page's Web Worker: loads ONNX Runtime Web and the served model, runs every request off the
// page's thread, so the tab stays responsive while a model computes.
//
// Messages from the page, one at a time (the page sends the next only after the answer):
//   {type: "load"}               -> {type: "ready", kind, card, limits}
//   {type: "generate", prime, length, temperature, topK, seed}
//                                -> {type: "text", text} per piece, then {type: "done", stopped}
//   {type: "stop"}               ends a generation early (then "done"); may come at any time
//   {type: "caption", image, beam}
//                                -> {type: "caption", tokens, words, attention, grid}
//   {type: "classify", image}    -> {type: "classified", probabilities, classId, rectified}
// and {type: "error", message} instead of an answer when the request (or the model) fails.
// `image` is {data: RGBA Uint8ClampedArray, width, height}: for "caption" the decoded image at
// any size (resized here as training resized it, `resizeImage`), for "classify" at the model's
// input size. `kind` is "char", "captioner" or "stn", `card` the model card, `limits` the
// export's onnx/limits.json. Model files come from `model/`, the server's view of the exported
// version (see export/serve_web.py).

import * as ort from "./ort/ort.wasm.min.mjs";
import { Captioner } from "./driver/captioner.mjs";
import { CharGenerator } from "./driver/char.mjs";
import { kindOf } from "./driver/kind.mjs";
import { readCard } from "./driver/load.mjs";
import { resizeImage } from "./driver/resize.mjs";
import { STNClassifier } from "./driver/stn.mjs";

// Single-threaded WASM: multi-threaded WASM needs a cross-origin isolated page (COOP/COEP
// headers), and these models are small enough for one thread.
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = new URL("./ort/", import.meta.url).href;

// kindOf's names -> the driver class (kindOf refuses any other kind).
const DRIVERS = { char: CharGenerator, captioner: Captioner, stn: STNClassifier };

let model = null;
let kind = null;
let stopRequested = false;

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
  const card = await readCard(loadFile);
  kind = kindOf(card);
  model = await DRIVERS[kind].create(ort, loadFile, { card });
  return { type: "ready", kind, card, limits: model.limits };
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
      const { beam } = message;
      model.check({ beam });  // before resizing a large image for nothing
      const size = model.imageSize;
      let { image } = message;
      if (image.width !== size || image.height !== size) image = resizeImage(image, size);
      const { tokens, words, attention, grid } = await model.caption(image, { beam });
      return { type: "caption", tokens, words, attention, grid };
    }
    case "classify": {
      need("stn");
      const { probabilities, classId, rectified } = await model.classify(message.image);
      return { type: "classified", probabilities: Array.from(probabilities), classId, rectified };
    }
    default:
      throw new Error(`unknown request ${message.type}`);
  }
}

self.onmessage = async (event) => {
  if (event.data?.type === "stop") {
    stopRequested = true;
    return;
  }
  try {
    self.postMessage(await handle(event.data));
  } catch (error) {
    self.postMessage({ type: "error", message: error?.message ?? String(error) });
  }
};
