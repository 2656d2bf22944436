// The page's shell: starts the worker (worker.mjs, where ONNX Runtime Web and the model run; it
// reads the served model's card), then loads the controls of the model's kind from
// kinds/KIND/page.mjs (KIND checked against driver/kind.mjs's table) and hands them what every
// kind shares: running a request, the worker, the model card and limits. Everything the model
// computes arrives as messages from the worker; this thread only decodes images and draws.
//
// A kind's page module exports
//   TITLE                 what the model is, in words ("image captioner")
//   setUp(main, page)     builds the kind's controls into `main` (may return a Promise), where
//                         `page` is {card, limits, run, request, send} (see `pageFor` below)
// Its buttons marked data-while="idle" are disabled while a request runs, those marked
// data-while="busy" enabled only then.
//
// For scripts driving the page (the tests): <body data-state> is "loading", "busy", "ready" or
// "error" (the last request failed; #error holds its message), and <body data-runs> counts the
// requests that finished, failed ones included. <body data-kind> is the model card's kind once
// the model has loaded. What each kind's controls show: its page module says.

import { importKind } from "./driver/kind.mjs";

const $ = (id) => document.getElementById(id);

let worker = null;
let pending = null;  // {resolve, reject, onText} of the request the worker is answering
let loaded = false;

// -- state, status and errors ------------------------------------------------------------------

function setState(state) {
  document.body.dataset.state = state;
  const busy = state === "busy" || state === "loading";
  for (const button of document.querySelectorAll("[data-while]")) {
    button.disabled = (button.dataset.while === "busy") !== busy;
  }
}

function setStatus(text) {
  $("status").textContent = text;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

function clearError() {
  $("error").textContent = "";
  $("error").hidden = true;
}

// Runs one request: busy meanwhile, its Error's message shown in the page if it fails. `job`
// returns the status to show when done (undefined: the time it took).
async function run(label, job) {
  if (document.body.dataset.state === "busy" || !loaded) return;
  clearError();
  setState("busy");
  setStatus(label);
  const started = performance.now();
  try {
    const done = await job();
    setStatus(done ?? `Done in ${((performance.now() - started) / 1000).toFixed(2)} s.`);
    setState("ready");
  } catch (error) {
    setStatus("");
    showError(error?.message ?? String(error));
    setState("error");
  } finally {
    document.body.dataset.runs = String(Number(document.body.dataset.runs) + 1);
  }
}

// -- the worker --------------------------------------------------------------------------------

// One request to the worker: a Promise of its answer; `onText(piece)` gets the pieces of text a
// streamed answer sends first.
function request(message, onText) {
  return new Promise((resolve, reject) => {
    pending = { resolve, reject, onText };
    worker.postMessage(message);
  });
}

function startWorker() {
  worker = new Worker(new URL("./worker.mjs", import.meta.url), { type: "module" });
  worker.onmessage = (event) => {
    const message = event.data;
    if (message.type === "text") {
      pending?.onText?.(message.text);
      return;
    }
    const answered = pending;
    pending = null;
    if (!answered) return;
    if (message.type === "error") answered.reject(new Error(message.message));
    else answered.resolve(message);
  };
  worker.onerror = (event) => {
    event.preventDefault();
    const answered = pending;
    pending = null;
    const why = event.message || "it could not be loaded (the browser console says why)";
    answered?.reject(new Error(`the page's worker failed: ${why}`));
  };
}

/**
 * What the shell hands a kind's `setUp`.
 * @returns {{card: Object, limits: Object, run: function(string, function(): Promise<string|undefined>),
 *   request: function(Object, function(string)=): Promise<Object>, send: function(Object)}}
 *   card: the model card; limits: the export's onnx/limits.json; run(label, job): runs one
 *   request with the page busy and its error shown; request(message, onText): a message to the
 *   worker, a Promise of its answer; send(message): a message needing no answer ("stop")
 */
function pageFor(card, limits) {
  return { card, limits, run, request, send: (message) => worker.postMessage(message) };
}

// -- start -------------------------------------------------------------------------------------

async function start() {
  setState("loading");
  let kind, card, limits, controls;
  try {
    startWorker();
    ({ kind, card, limits } = await request({ type: "load" }));
    controls = await importKind(kind, "page.mjs");
    await controls.setUp($("controls"), pageFor(card, limits));
  } catch (error) {
    setStatus("");
    showError(`The model did not load: ${error?.message ?? error}`);
    setState("error");
    return;
  }
  $("model-info").textContent = `${card.name}, version ${card.version}: ${controls.TITLE}` +
    " running in this tab (ONNX Runtime Web, WebAssembly)";
  document.body.dataset.kind = kind;
  loaded = true;
  setStatus("Ready.");
  setState("ready");
}

start();
