#!/usr/bin/env python
"""Screenshots of the browser page, one PNG per model kind, for docs/web.md.

Example (versions exported with export/export_model.py; any of the four may be left out):
  python export/web/screenshots.py --char saved_models/demo-char/1 \\
      --captioner saved_models/demo-captioner/1 --stn saved_models/demo-stn/1 \\
      --draw saved_models/draw/1 --out docs/images

Serves each version with export/serve_web.py, opens the page in headless Chromium (Debian's
`chromium` and `chromium-driver`, driven by Selenium) and:
  char       generates --length characters after --prime (temperature 0.7, seed 0)
             -> web-char.png
  captioner  captions --image (default: a generated scene at the model's input size), beam 3,
             and shows the attention map of the caption's --word-th word -> web-captioner.png
  stn        draws a 7 on the canvas with the pointer and classifies it -> web-stn.png
  draw       draws a 3 on the pad with the pointer and reconstructs it, then draws the digit of
             --seed, step by step, to its last step and write window -> web-draw.png
Each PNG is reduced to 256 colours when that keeps it readable and smaller.
Exit status 2 with one `error:` line when Chromium, chromedriver or Selenium is missing or a
page shows an error.
"""

import argparse
import io
import pathlib
import select
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
SERVE = ROOT / "export" / "serve_web.py"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--char", metavar="VERSION_DIR", help="an exported char model version")
    p.add_argument("--captioner", metavar="VERSION_DIR", help="an exported captioner version")
    p.add_argument("--stn", metavar="VERSION_DIR", help="an exported STN classifier version")
    p.add_argument("--draw", metavar="VERSION_DIR", help="an exported DRAW version")
    p.add_argument("--seed", default="3", help="the DRAW digit's seed (default 3)")
    p.add_argument("--out", default="docs/images", help="folder for the PNGs (default docs/images)")
    p.add_argument("--prime", default="def ", help='char model prime (default "def ")')
    p.add_argument("--length", type=int, default=400, help="characters to generate (default 400)")
    p.add_argument("--image", help="image to caption (default: a generated scene)")
    p.add_argument("--word", type=int, default=1, help="whose attention map to show (default 1, the second)")
    p.add_argument("--width", type=int, default=900, help="window width in pixels (default 900)")
    return p.parse_args(argv)


class Page:
    """One headless Chromium window driven by Selenium."""

    def __init__(self, width):
        from kerasrnn.errors import InputError

        chromium = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                         if shutil.which(n)), None)
        chromedriver = shutil.which("chromedriver")
        if chromium is None or chromedriver is None:
            raise InputError("no chromium or chromedriver on the PATH (Debian: apt-get install chromium "
                             "chromium-driver)")
        try:
            from selenium import webdriver
            from selenium.webdriver.chrome.service import Service
        except ImportError:
            raise InputError("selenium is not installed (the dev extra: make install)") from None
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    f"--window-size={width},800", "--hide-scrollbars", "--force-device-scale-factor=1"):
            options.add_argument(arg)
        self.width = width
        self.browser = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)

    def close(self):
        self.browser.quit()

    def js(self, script, *args):
        return self.browser.execute_script(script, *args)

    def wait_for(self, script, timeout=120):
        from kerasrnn.errors import InputError

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.js(script):
                return
            time.sleep(0.05)
        raise InputError(f"the page did not finish in {timeout} s")

    def check(self):
        from kerasrnn.errors import InputError

        if self.js("return document.body.dataset.state") == "error":
            message = self.js("return document.getElementById('error').textContent")
            raise InputError(f"the page shows an error: {message}")

    def open(self, url):
        self.browser.get(url)
        self.wait_for("return document.body.dataset.state !== 'loading'")
        self.check()

    def act(self, action):
        """Runs `action()`, which starts one request, and waits until the page has finished it."""
        before = int(self.js("return document.body.dataset.runs"))
        action()
        self.wait_for(f"return Number(document.body.dataset.runs) > {before}")
        self.check()

    def set(self, element_id, value):
        self.js("document.getElementById(arguments[0]).value = arguments[1]", element_id, value)

    def element(self, element_id):
        return self.browser.find_element("id", element_id)

    def save(self, path):
        """A PNG of the whole page (the viewport set to the page's height)."""
        height = int(self.js("return document.documentElement.scrollHeight"))
        self.browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": self.width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        time.sleep(0.3)
        png = self.browser.get_screenshot_as_png()
        self.browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        path.write_bytes(small_png(png))
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


def small_png(png):
    """`png` reduced to 256 colours if that makes it smaller (screenshots of text and flat
    colours look the same)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    out = io.BytesIO()
    image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(out, "PNG", optimize=True)
    return out.getvalue() if out.tell() < len(png) else png


def start_server(version):
    """`(process, url)`: export/serve_web.py serving `version` on a free port."""
    from kerasrnn.errors import InputError

    process = subprocess.Popen([sys.executable, str(SERVE), str(version), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready, _, _ = select.select([process.stdout], [], [], 60)
    line = process.stdout.readline() if ready else ""
    if " at http://" not in line:
        process.kill()
        raise InputError(f"serve_web.py did not start for {version}: {process.stderr.read().strip()}")
    return process, line.split(" at ", 1)[1].split()[0]


def scene_png(version, path):
    """A generated scene at the captioner's input size (its model card's image_size), as a PNG."""
    import json

    import numpy as np
    from PIL import Image

    from kerasrnn.kinds.captioner.scenes import make_scene

    card = json.loads((pathlib.Path(version) / "assets.extra" / "model_card.json").read_text())
    scene = make_scene(np.random.default_rng(7), size=card["image_size"], num_objects=2)
    Image.fromarray(scene.image).save(path)
    return path


def char_page(page, url, args, out):
    page.open(url)
    page.set("prime", args.prime)
    page.set("length", str(args.length))
    page.set("temperature", "0.7")
    page.set("top-k", "0")
    page.set("seed", "0")
    page.act(lambda: page.element("generate").click())
    page.save(out / "web-char.png")


def captioner_page(page, url, version, args, out):
    page.open(url)
    page.set("beam", "3")
    with tempfile.TemporaryDirectory() as scratch:  # the page shows the chosen file's name
        image = args.image or scene_png(version, pathlib.Path(scratch) / "scene.png")
        page.act(lambda: page.element("caption-file").send_keys(str(pathlib.Path(image).resolve())))
    words = page.browser.find_elements("css selector", "#caption-words .word")
    if words:
        words[min(args.word, len(words) - 1)].click()
    page.save(out / "web-captioner.png")


def stn_page(page, url, out):
    from selenium.webdriver.common.action_chains import ActionChains

    page.open(url)
    canvas = page.element("stn-draw")
    seven = (ActionChains(page.browser).move_to_element_with_offset(canvas, -70, -85).click_and_hold()
             .move_by_offset(45, -3).move_by_offset(45, 0).move_by_offset(-25, 60)
             .move_by_offset(-25, 60).move_by_offset(-15, 55).release())
    page.act(seven.perform)
    page.save(out / "web-stn.png")


def draw_page(page, url, args, out):
    from selenium.webdriver.common.action_chains import ActionChains

    page.open(url)
    page.set("draw-seed", args.seed)
    pad = page.element("draw-pad")
    page.js("arguments[0].scrollIntoView({block: 'center'})", pad)
    three = (ActionChains(page.browser).move_to_element_with_offset(pad, -45, -70).click_and_hold()
             .move_by_offset(50, -10).move_by_offset(25, 30).move_by_offset(-45, 35)
             .move_by_offset(50, 30).move_by_offset(-25, 40).move_by_offset(-55, 0).release())
    three.perform()
    page.act(lambda: page.element("draw-reconstruct").click())
    page.act(lambda: page.element("draw-generate").click())
    page.save(out / "web-draw.png")


def main(argv=None):
    args = parse_args(argv)
    from kerasrnn.cli import run

    return run(lambda: take(args))


def take(args):
    from kerasrnn.errors import InputError

    if not (args.char or args.captioner or args.stn or args.draw):
        raise InputError("give at least one of --char, --captioner, --stn, --draw")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    servers = []
    page = Page(args.width)
    try:
        for kind, version in (("char", args.char), ("captioner", args.captioner), ("stn", args.stn),
                              ("draw", args.draw)):
            if not version:
                continue
            process, url = start_server(version)
            servers.append(process)
            if kind == "char":
                char_page(page, url, args, out)
            elif kind == "captioner":
                captioner_page(page, url, version, args, out)
            elif kind == "stn":
                stn_page(page, url, out)
            else:
                draw_page(page, url, args, out)
    finally:
        page.close()
        for process in servers:
            process.terminate()
            process.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
