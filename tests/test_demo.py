"""The web demo: its logic, ``sagan-edit demo`` served for real, called by gradio_client and by a
headless Chromium (Debian's ``chromium`` or ``chromium-headless-shell``).

The server tests start ``sagan-edit demo --port N`` in a subprocess, offline (HF_HUB_OFFLINE=1,
an empty Hugging Face cache), with the embedded eyeglasses model, and edit the example photo.
They skip when Gradio (``pip install "sagan-edit[demo]"``) or Chromium is not installed.
Set ``SAGAN_DEMO_SCREENSHOT=1`` to write the browser's screenshot to docs/images/demo.png.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import hf_env, make_tiny_model
from PIL import Image

from sagan_edit import list_models
from sagan_edit.attributes import canonical_attribute
from sagan_edit.demo import CHOICES, load_demo_models, run_edit

ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / "examples" / "astronaut.png"
SCREENSHOT = ROOT / "docs" / "images" / "demo.png"
START_TIMEOUT = 300  # seconds for the server to load torch, gradio and the model (2 busy cores)
EDIT_TIMEOUT = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_cli(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "100", **(env or {})},
        timeout=300,
    )


# ------------------------------------------------------------------ logic (no Gradio needed)


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("demo-models")
    glasses = make_tiny_model(0, "eyeglasses").save_pretrained(folder / "glasses")
    smile = make_tiny_model(1, "smiling").save_pretrained(folder / "smile")
    return load_demo_models([glasses, smile], device="cpu", published=False)


def test_the_demo_offers_the_models_it_can_load_offline(hf_offline, tmp_path):
    models = load_demo_models(device="cpu")
    embedded = [canonical_attribute(i.alias) for i in list_models() if i.embedded is not None]
    assert embedded and models.attributes == embedded  # the embedded models, none from the Hub
    assert set(models.sources.values()) == {"embedded"}
    assert set(models.unavailable) == {i.alias for i in list_models() if i.embedded is None}
    assert all("\n" not in why for why in models.unavailable.values())
    # a folder given for an attribute replaces the published model of that attribute
    folder = make_tiny_model(3, "eyeglasses").save_pretrained(tmp_path / "mine")
    mine = load_demo_models([folder], device="cpu")
    assert set(mine.attributes) == {*embedded, "Eyeglasses"}
    assert mine.sources["Eyeglasses"] == str(folder)


def test_run_edit_applies_the_chosen_attributes_and_writes_the_png(two_models, tmp_path):
    photo = Image.new("RGB", (64, 64), (120, 90, 60))
    (before, after), closeup, mask, path, report = run_edit(
        two_models, photo, 0.8, ["add", "remove"], tmp_path
    )
    assert before.size == after.size == mask.size == (64, 64)
    assert closeup.size == (2 * 256 + 8, 256)  # the crop before | after, 256 px high
    expected = two_models.editor.edit(photo, eyeglasses="add", smiling="remove", strength=0.8)
    assert np.array_equal(np.asarray(after), np.asarray(expected.image))
    assert np.array_equal(np.asarray(Image.open(path)), np.asarray(expected.image))
    assert Path(path).parent == tmp_path and Path(path).suffix == ".png"
    assert report.startswith("Edited the face crop: Eyeglasses add, Smiling remove")
    *_, toggled = run_edit(two_models, photo, 1.0, ["off", "toggle"], tmp_path)
    assert "face 0: Smiling" in toggled and "Eyeglasses" not in toggled


def test_run_edit_refuses_what_it_cannot_do(two_models):
    photo = Image.new("RGB", (64, 64))
    with pytest.raises(ValueError, match="upload a photo first"):
        run_edit(two_models, None, 1.0, ["add", "off"])
    with pytest.raises(ValueError, match="at least one attribute"):
        run_edit(two_models, photo, 1.0, ["off", "off"])
    with pytest.raises(ValueError, match="2 attribute"):
        run_edit(two_models, photo, 1.0, ["add"])
    with pytest.raises(ValueError, match="choices must be among"):
        run_edit(two_models, photo, 1.0, ["add", "flip"])
    assert CHOICES == ("off", "add", "remove", "toggle")


# --------------------------------------------------------------------------- command line


def test_help_lists_demo_without_importing_torch_or_gradio():
    result = _run_cli(
        """
        import sys
        from sagan_edit.cli import main
        for args in (["--help"], ["demo", "--help"]):
            try:
                main(args)
            except SystemExit as exc:
                assert exc.code == 0, (args, exc.code)
        print("LOADED", [m for m in ("torch", "gradio") if m in sys.modules])
        """
    )
    assert result.returncode == 0, result.stderr
    assert "demo" in result.stdout and "--port N" in result.stdout
    assert "LOADED []" in result.stdout


def test_without_gradio_the_demo_says_what_to_install_in_one_line():
    result = _run_cli(
        """
        import sys
        sys.modules["gradio"] = None  # as if it were not installed
        from sagan_edit.cli import main
        try:
            main(["demo"])
        except SystemExit as exc:
            print("EXIT", exc.code, "torch" in sys.modules)
        """
    )
    assert "EXIT 1 False" in result.stdout, result.stdout + result.stderr
    assert result.stderr == 'error: the web demo needs Gradio: pip install "sagan-edit[demo]"\n'


def test_a_port_in_use_is_one_line(hf_offline):
    pytest.importorskip("gradio", reason='the demo extra is not installed (pip install ".[demo]")')
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "sagan_edit", "demo", "--port", str(port), "--device", "cpu"],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 1, result.stderr
    assert result.stderr.endswith(
        f"error: cannot serve on 127.0.0.1:{port}: the port is in use; pick another --port N\n"
    ), result.stderr
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------------- the served app, for real


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``sagan-edit demo --port N``, offline, in a subprocess; yields its URL."""
    pytest.importorskip("gradio", reason='the demo extra is not installed (pip install ".[demo]")')
    home = tmp_path_factory.mktemp("hf-home")
    port = _free_port()
    log = home / "server.log"
    env = {
        **os.environ,
        **hf_env("http://127.0.0.1:9", home, offline=True),
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    command = [sys.executable, "-m", "sagan_edit", "demo", "--port", str(port), "--device", "cpu"]
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(url + "/config"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the demo did not start:\n{log.read_text()}")
            time.sleep(1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def _answers(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def test_the_served_demo_edits_through_gradio_client(server, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False, download_files=str(tmp_path))
    compare, closeup_path, mask_path, png_path, report = client.predict(
        handle_file(str(EXAMPLE)), 1.0, "add", api_name="/edit"
    )
    photo = np.asarray(Image.open(EXAMPLE).convert("RGB"))
    edited = np.asarray(Image.open(png_path).convert("RGB"))
    mask = np.asarray(Image.open(mask_path).convert("L"))
    assert edited.shape == photo.shape and mask.shape == photo.shape[:2]
    assert 0 < (mask > 0).mean() < 0.25  # the eye region of the one face
    assert np.array_equal(edited[mask == 0], photo[mask == 0])
    assert np.abs(edited.astype(int) - photo).max() > 20
    assert report == "Edited 1 face: Eyeglasses add."
    before, after = (Image.open(p) for p in compare)
    assert before.size == after.size == (photo.shape[1], photo.shape[0])
    assert Image.open(closeup_path).height == 256  # one face: one row
    # toggle: the shipped classifier finds no eyeglasses on the astronaut, so it adds them
    *_, toggled_png, toggled = client.predict(
        handle_file(str(EXAMPLE)), 1.0, "toggle", api_name="/edit"
    )
    assert "face 0: Eyeglasses not found" in toggled and toggled.endswith("added")
    assert np.array_equal(np.asarray(Image.open(toggled_png).convert("RGB")), edited)
    with pytest.raises(Exception, match="at least one attribute"):
        client.predict(handle_file(str(EXAMPLE)), 1.0, "off", api_name="/edit")
    # the page names the models it offers offline, where each came from, and those it could not
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(server + "/config", timeout=30) as response:
        config = response.read().decode()
    models = list_models()
    for info in models:
        if info.embedded is not None:
            assert f"{canonical_attribute(info.alias).replace('_', ' ')} (embedded)" in config
    missing = ", ".join(info.alias for info in models if info.embedded is None)
    assert (
        (f"Not available here: {missing}" in config) if missing else "Not available" not in config
    )


# ------------------------------------------------------------------------- a real browser


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (no extra package)."""

    def __init__(self, binary: str, profile: Path) -> None:
        to_browser, self._to_browser = os.pipe()
        self._from_browser, from_browser = os.pipe()
        # fds >= 10, so the 3<& 4>& redirections of bash cannot clobber one another
        keep = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_browser, from_browser)]
        os.close(to_browser)
        os.close(from_browser)
        flags = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--no-default-browser-check", "--no-proxy-server",
            "--remote-debugging-pipe", f"--user-data-dir={profile}", "--window-size=1280,1000",
        ]  # fmt: skip
        script = f'exec "$0" "$@" 3<&{keep[0]} 4>&{keep[1]}'
        self.process = subprocess.Popen(
            ["bash", "-c", script, binary, *flags, "about:blank"],
            pass_fds=keep,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for fd in keep:
            os.close(fd)
        self._next = 0
        self._buffer = b""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one command and return its result (events in between are skipped)."""
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._buffer:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def page(self, method: str, **params: Any) -> dict[str, Any]:
        """A command to the page's session."""
        return self.call(method, self.session, **params)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self.page("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.5)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (OSError, RuntimeError):
            pass
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        os.close(self._to_browser)
        os.close(self._from_browser)


@pytest.fixture
def chromium() -> str:
    """Debian's chromium or chromium-headless-shell (or the binary $SAGAN_CHROMIUM names)."""
    names = [os.environ.get("SAGAN_CHROMIUM", ""), "chromium", "chromium-headless-shell"]
    for name in filter(None, names):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no chromium on PATH (apt-get install chromium)")


def test_a_browser_uploads_a_photo_edits_it_and_sees_the_result(chromium, server, tmp_path):
    browser = Chromium(chromium, tmp_path / "profile")
    try:
        browser.page("Emulation.setDeviceMetricsOverride", width=1280, height=1000,
                     deviceScaleFactor=1, mobile=False)  # fmt: skip
        browser.page("Page.navigate", url=server)
        browser.wait_for("!!document.querySelector('#edit-button')", 120, "the page")
        root = browser.page("DOM.getDocument", depth=-1, pierce=True)["root"]["nodeId"]
        upload = browser.page("DOM.querySelector", nodeId=root,
                              selector="#photo input[type=file]")["nodeId"]  # fmt: skip
        assert upload, "no file input in the photo box"
        browser.page("DOM.setFileInputFiles", nodeId=upload, files=[str(EXAMPLE)])
        browser.wait_for("!!document.querySelector('#photo img')", 120, "the uploaded photo")
        browser.evaluate("document.querySelector('#edit-button').click()")
        size = browser.wait_for(
            """(() => {
                const shown = [...document.querySelectorAll('#result img')]
                    .filter(img => img.complete && img.naturalWidth > 0);
                const mask = document.querySelector('#mask img');
                const closeup = document.querySelector('#closeup img');
                return shown.length >= 2 && mask && mask.naturalWidth > 0
                    && closeup && closeup.naturalWidth > 0
                    && [shown[1].naturalWidth, shown[1].naturalHeight];
            })()""",
            EDIT_TIMEOUT,
            "the edited photo and its mask",
        )
        assert size == list(Image.open(EXAMPLE).size)
        report = browser.evaluate("document.querySelector('#report').innerText")
        assert "Edited 1 face: Eyeglasses add." in report
        assert browser.evaluate("!!document.querySelector('#download a')"), "no download link"
        time.sleep(1)  # let the images settle
        shot = browser.page("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    finally:
        browser.close()
    png = base64.b64decode(shot["data"])
    (tmp_path / "demo.png").write_bytes(png)
    image = Image.open(tmp_path / "demo.png")
    assert image.width >= 1000 and image.height >= 600
    if os.environ.get("SAGAN_DEMO_SCREENSHOT") == "1":  # 256 colours: a third of the bytes
        palette = image.convert("RGB").quantize(256, dither=Image.Dither.FLOYDSTEINBERG)
        palette.save(SCREENSHOT, optimize=True)
