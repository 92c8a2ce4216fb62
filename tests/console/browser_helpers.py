"""Fixtures of the console's browser tests: Debian's Chromium driven by Playwright (no browser download), a console
server on a free port with a temporary workspace, and the screenshot folder ``tests/console/artifacts/``.

Without Chromium or Playwright the browser tests skip, except under ``CI=true`` where they fail (the CI script installs
both). ``NNL_CHROMIUM`` names another Chromium executable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
SERVER_START_S = 60


def _missing(what: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} (CI installs it: apt-get install chromium; pip install playwright)")
    pytest.skip(what)


def chromium_path() -> str:
    """The Chromium executable, or skip/fail (CI) when there is none."""
    path = os.environ.get("NNL_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path or not os.path.exists(path):
        _missing("Chromium is not installed")
    return str(path)


def artifact(name: str) -> str:
    """A path for a screenshot or download under tests/console/artifacts/ (git-ignored by its own .gitignore)."""
    ARTIFACTS.mkdir(exist_ok=True)
    ignore = ARTIFACTS / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    return os.fspath(ARTIFACTS / name)


def _drain(stream: Any) -> None:
    """Reads a child's output to its end, so that a chatty server never blocks on a full pipe."""
    for _ in stream:
        pass


class Console:
    """A running ``nnl console`` process: its URL and workspace, and JSON calls to its API."""

    def __init__(self, url: str, workspace: Path, process: subprocess.Popen[str]) -> None:
        self.url, self.workspace, self.process = url, workspace, process

    def api(self, path: str, body: Any = None, method: str | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + "api/" + path, data=data, method=method,
                                         headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """``nnl console --port 0`` on a fresh workspace; the URL is read from its first lines."""
    workspace = tmp_path_factory.mktemp("console_workspace")
    process = subprocess.Popen([sys.executable, "-m", "nnl", "console", "--port", "0", "--no-browser", "--workspace",
                                os.fspath(workspace)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = None
    deadline = time.monotonic() + SERVER_START_S
    assert process.stdout is not None
    lines = []
    while url is None and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "open http" in line:
            url = line.split("open ", 1)[1].strip()
    if url is None:
        process.kill()
        pytest.fail("nnl console did not print its URL:\n" + "".join(lines))
    threading.Thread(target=_drain, args=(process.stdout,), daemon=True).start()
    server = Console(url, workspace, process)
    for _ in range(100):
        try:
            server.api("health")
            break
        except OSError:
            time.sleep(0.2)
    yield server
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is not installed (pip install playwright)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture()
def page(browser: Any, console: Console) -> Iterator[Any]:
    """A fresh page (1600×1000, downloads accepted); JavaScript errors fail the test."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, accept_downloads=True)
    context.set_default_timeout(15_000)
    new_page = context.new_page()
    errors: list[str] = []
    new_page.on("pageerror", lambda e: errors.append(str(e)))
    yield new_page
    context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


def expect(target: Any) -> Any:
    """Playwright's retrying assertions (imported here so that a missing Playwright skips instead of erroring)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)
