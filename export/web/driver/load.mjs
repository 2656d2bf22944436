// Reading an exported version's files through a `loadFile` function, so a web page (fetch) and
// Node.js (fs) share the drivers: `loadFile(pathRelativeToTheVersionFolder)` returns a Promise of
// the file's bytes (a Uint8Array; a string is accepted for text files) and rejects when the file
// cannot be read.

/** The model card, relative to the version folder (`saved_models/NAME/VERSION/`). */
const CARD_FILE = "assets.extra/model_card.json";
const CARD_FORMAT = "kerasrnn.model_card";
const CARD_FORMAT_VERSION = 1;
const AGAIN = "export the model again";

/**
 * @callback LoadFile
 * @param {string} path relative to the version folder, e.g. "onnx/step.onnx"
 * @returns {Promise<Uint8Array|string>}
 */

/**
 * A file's bytes.
 * @param {LoadFile} loadFile
 * @param {string} path
 * @returns {Promise<Uint8Array>}
 */
async function readBytes(loadFile, path) {
  let data;
  try {
    data = await loadFile(path);
  } catch (e) {
    throw new Error(`cannot read ${path} of the model version (${firstLine(e)}); give the folder of an ` +
                    `exported version (saved_models/NAME/VERSION) that holds it`);
  }
  if (typeof data === "string") return new TextEncoder().encode(data);
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new Error(`loadFile(${JSON.stringify(path)}) gave neither bytes nor text`);
}

/**
 * JSON as Python's `json` writes it: strict JSON, or, from versions exported before their model
 * cards were written strictly, with `NaN`, `Infinity` and `-Infinity` for scores that could not
 * be computed; those read as null (outside strings only).
 * @param {string} text
 * @returns {*}
 */
export function parsePythonJson(text) {
  try {
    return JSON.parse(text);
  } catch (strictError) {
    let out = "", inString = false;
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (inString) {
        out += ch;
        if (ch === "\\") out += text[++i] ?? "";
        else if (ch === '"') inString = false;
        continue;
      }
      const word = ["NaN", "Infinity", "-Infinity"].find((w) => text.startsWith(w, i));
      if (word) {
        out += "null";
        i += word.length - 1;
        continue;
      }
      if (ch === '"') inString = true;
      out += ch;
    }
    try {
      return JSON.parse(out);
    } catch {
      throw strictError;
    }
  }
}

/**
 * A JSON object file with the keys `required` of the given types.
 * @param {LoadFile} loadFile
 * @param {string} path
 * @param {Object<string, string>} [required] {key: "string"|"number"|"integer"|"array"|"object"}
 * @returns {Promise<Object>}
 */
export async function readJson(loadFile, path, required = {}) {
  const bytes = await readBytes(loadFile, path);
  let value;
  try {
    value = parsePythonJson(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new Error(`${path} is damaged (not JSON: ${firstLine(e)}); ${AGAIN}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new Error(`${path} is damaged (not a JSON object); ${AGAIN}`);
  }
  for (const [key, type] of Object.entries(required)) {
    if (!hasType(value[key], type)) throw new Error(`${path} is damaged (no ${type} "${key}"); ${AGAIN}`);
  }
  return value;
}

function hasType(x, type) {
  switch (type) {
    case "integer": return Number.isInteger(x);
    case "number": return typeof x === "number" && Number.isFinite(x);
    case "array": return Array.isArray(x);
    case "object": return x !== null && typeof x === "object" && !Array.isArray(x);
    default: return typeof x === type;
  }
}

/**
 * The version's model card (`assets.extra/model_card.json`), its format checked.
 * @param {LoadFile} loadFile
 * @returns {Promise<Object>} the card: name, version, kind, limits, kind-specific fields
 */
export async function readCard(loadFile) {
  const card = await readJson(loadFile, CARD_FILE, { kind: "string", limits: "object" });
  if (card.format !== CARD_FORMAT || card.format_version !== CARD_FORMAT_VERSION) {
    throw new Error(`${CARD_FILE} is not a kerasrnn model card of format version ${CARD_FORMAT_VERSION}`);
  }
  return card;
}

/**
 * An ONNX Runtime session for one of the version's ONNX files.
 * @param {Object} ort the onnxruntime-node or onnxruntime-web module
 * @param {LoadFile} loadFile
 * @param {string} path e.g. "onnx/step.onnx"
 * @param {Object} [sessionOptions] passed to `InferenceSession.create` (e.g. executionProviders)
 * @returns {Promise<Object>} an `InferenceSession`
 */
export async function createSession(ort, loadFile, path, sessionOptions = {}) {
  const bytes = await readBytes(loadFile, path);
  try {
    return await ort.InferenceSession.create(bytes, sessionOptions);
  } catch (e) {
    throw new Error(`${path} is not a model ONNX Runtime can load (${firstLine(e)}); ${AGAIN}`);
  }
}

/**
 * Reads the limits a request must keep to: `onnx/limits.json`, each of `names` an integer >= 1.
 * The limits of `added` (added to the exports later) may be missing or null, in a version exported
 * before them: they are null then, "not checked", the version's old behaviour.
 * @param {LoadFile} loadFile
 * @param {string[]} names
 * @param {string[]} [added]
 * @returns {Promise<Object<string, number|null>>}
 */
export async function readLimits(loadFile, names, added = []) {
  const path = "onnx/limits.json";
  const limits = await readJson(loadFile, path);
  for (const name of [...names, ...added]) {
    if (added.includes(name) && (limits[name] === undefined || limits[name] === null)) {
      limits[name] = null;
    } else if (!Number.isInteger(limits[name]) || limits[name] < 1) {
      throw new Error(`${path} does not hold the limit ${name} (an integer >= 1); ${AGAIN}`);
    }
  }
  return limits;
}

/** The first line of an error's message (at most 160 characters). */
function firstLine(e) {
  const text = String((e && e.message) || e).trim();
  return (text.split("\n")[0] || (e && e.name) || "error").slice(0, 160);
}
