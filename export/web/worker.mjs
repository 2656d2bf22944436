// The page's Web Worker: loads ONNX Runtime Web and the served model, runs every request off the
// page's thread, so the tab stays responsive while a model computes.
//
// Messages from the page, one at a time (the page sends the next only after the answer):
//   {type: "load"}   -> {type: "ready", kind, card, limits}
//   {type: "stop"}   ends a streamed answer early (then its last message); may come at any time
// and the requests of the model's kind, answered by kinds/KIND/worker.mjs (KIND checked against
// driver/kind.mjs's table), which exports
//   load(ort, loadFile, card)    a Promise of the model (the kind's driver)
//   requests                     {type: (model, message) => answer}: an answer message, or an
//                                async iterable of text pieces, each sent as {type: "text", text},
//                                then {type: "done", stopped}
// and {type: "error", message} instead of an answer when the request (or the model) fails.
// `kind` is the model card's kind ("char_rnn", ...), `card` the model card, `limits` the
// export's onnx/limits.json. Model files come from `model/`, the server's view of the exported
// version (see export/serve_web.py).

import * as ort from "./ort/ort.wasm.min.mjs";
import { importKind, kindOf } from "./driver/kind.mjs";
import { readCard } from "./driver/load.mjs";

// Single-threaded WASM: multi-threaded WASM needs a cross-origin isolated page (COOP/COEP
// headers), and these models are small enough for one thread.
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = new URL("./ort/", import.meta.url).href;

let model = null;
let kind = null;
let requests = null;  // the kind's requests (kinds/KIND/worker.mjs)
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
  const kindModule = await importKind(kind, "worker.mjs");
  model = await kindModule.load(ort, loadFile, card);
  requests = kindModule.requests;
  return { type: "ready", kind, card, limits: model.limits };
}

// Sends each piece of text of `pieces` as it comes, until the end or a "stop".
async function stream(pieces) {
  stopRequested = false;
  for await (const text of pieces) {
    self.postMessage({ type: "text", text });
    await yieldToMessages();
    if (stopRequested) break;
  }
  return { type: "done", stopped: stopRequested };
}

async function handle(message) {
  if (message.type === "load") return load();
  if (model === null) throw new Error("the model is not loaded yet");
  if (!Object.hasOwn(requests, message.type)) {
    throw new Error(`the served model is a ${kind} model; it does not answer ${message.type} requests`);
  }
  const answer = await requests[message.type](model, message);
  return answer?.[Symbol.asyncIterator] ? stream(answer) : answer;
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
