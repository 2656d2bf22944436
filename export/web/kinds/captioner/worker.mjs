// The page's requests a captioner answers, in the page's Web Worker (see worker.mjs):
//   {type: "caption", image, beam} -> {type: "caption", tokens, words, attention, grid}
// `image` is {data: RGBA Uint8ClampedArray, width, height}, the decoded image at any size,
// resized here as training resized it (`resizeImage`), off the page's thread.

import { resizeImage } from "../../driver/resize.mjs";
import { Captioner } from "./driver.mjs";

/** The model of a version: a `Captioner`. */
export function load(ort, loadFile, card) {
  return Captioner.create(ort, loadFile, { card });
}

/** Request type -> (model, message) => its answer. */
export const requests = {
  async caption(model, { image, beam }) {
    model.check({ beam });  // before resizing a large image for nothing
    const size = model.imageSize;
    if (image.width !== size || image.height !== size) image = resizeImage(image, size);
    const { tokens, words, attention, grid } = await model.caption(image, { beam });
    return { type: "caption", tokens, words, attention, grid };
  },
};
