"""Driving headless Chromium from Python: find and start it off the network, serve a folder to it,
and talk to it over the DevTools Protocol (one websocket, commands and events).

:mod:`kdrepro.book.browser` uses it to check the built book; nothing here knows about books.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import websocket

from ..errors import KdreproError

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
INSTALL_HINT = ("install it with `apt-get install chromium` (Debian; `make browser` does it), "
                "or point KDREPRO_CHROMIUM at a Chromium or Chrome binary")
# Off the network: no background services, and every host name but 127.0.0.1 fails to resolve.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--no-proxy-server",
    "--disable-extensions", "--disable-default-apps", "--no-default-browser-check", "--hide-scrollbars",
    "--mute-audio", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", "--remote-debugging-port=0",
)
class BrowserError(KdreproError):
    """Headless Chromium is missing, would not start, or stopped answering."""


def find_chromium() -> str:
    """The Chromium binary: ``KDREPRO_CHROMIUM``, else chromium, chromium-browser or google-chrome on PATH."""
    override = os.environ.get("KDREPRO_CHROMIUM")
    if override:
        found = shutil.which(override)
        if not found:
            raise BrowserError(f"KDREPRO_CHROMIUM={override!r} is not an executable; {INSTALL_HINT}")
        return found
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserError(f"Chromium is not installed (looked for {', '.join(CHROMIUM_NAMES)} on PATH): {INSTALL_HINT}")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on 127.0.0.1 (an ephemeral port) from a thread; yield its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, name="kdrepro-book-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def chromium(executable: str | None = None, startup_timeout: float = 30.0) -> Iterator[str]:
    """Start headless Chromium with a fresh profile; yield its DevTools websocket URL; always stop it."""
    executable = executable or find_chromium()
    with tempfile.TemporaryDirectory(prefix="kdrepro-chromium-", ignore_cleanup_errors=True) as tmp:
        profile, log = Path(tmp) / "profile", Path(tmp) / "stderr.log"
        with open(log, "wb") as stderr:
            proc = subprocess.Popen([executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                                    start_new_session=True)
        try:
            yield _devtools_url(proc, profile / "DevToolsActivePort", log, startup_timeout)
        finally:
            _stop(proc)


def _devtools_url(proc: subprocess.Popen, port_file: Path, log: Path, timeout: float) -> str:
    """Wait for Chromium to write ``DevToolsActivePort`` (its port, then the browser's path)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = port_file.read_text().split() if port_file.is_file() else []
        if len(lines) == 2:
            return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
    state = f"exited with {proc.returncode}" if proc.poll() is not None else f"did not start in {timeout:.0f} s"
    raise BrowserError(f"headless Chromium {state}:\n{tail}")


def _stop(proc: subprocess.Popen) -> None:
    """Stop Chromium and the processes it started (its own process group)."""
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


# --------------------------------------------------------------------------- the DevTools connection


class Cdp:
    """One DevTools websocket: commands wait for their reply; events are kept per session."""

    def __init__(self, url: str):
        self._ws = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self._id = 0
        self.events: dict[str | None, list[dict]] = defaultdict(list)

    def close(self) -> None:
        self._ws.close()

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             deadline: float | None = None) -> dict:
        """Send a command and return its result (raises on a DevTools error or at ``deadline``)."""
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._ws.send(json.dumps(message))
        deadline = deadline or time.monotonic() + 30
        while True:
            reply = self._receive(deadline)
            if reply is None:
                raise TimeoutError(f"no reply to {method}")
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})

    def wait(self, session: str, method: str, deadline: float, start: int = 0) -> int:
        """Wait for event ``method`` of a session at or after index ``start``; return its index."""
        while True:
            events = self.events[session]
            for i in range(start, len(events)):
                if events[i]["method"] == method:
                    return i
            start = len(events)
            if self._receive(deadline) is None:
                raise TimeoutError(f"no {method}")

    def pump(self, until: float) -> None:
        """Collect events until the time ``until``."""
        while self._receive(until) is not None:
            pass

    def _receive(self, deadline: float) -> dict | None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        self._ws.settimeout(remaining)
        try:
            message = json.loads(self._ws.recv())
        except websocket.WebSocketTimeoutException:
            return None
        except (websocket.WebSocketException, OSError) as e:
            raise BrowserError(f"the DevTools connection to Chromium broke: {e}") from e
        if "method" in message:
            self.events[message.get("sessionId")].append(message)
        return message
