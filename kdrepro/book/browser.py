"""Checking a built HTML book in a real browser: headless Chromium through the DevTools Protocol.

Sphinx's ``-W -n`` build catches broken cross-references in the sources, but not what a reader
meets: a page whose script throws, an image that 404s, an anchor that no longer exists, math
that MathJax could not typeset, or a theme asset fetched from a CDN. :func:`check_book` serves
the built folder from a local HTTP server, opens every page in headless Chromium (kept off the
network: every host name but 127.0.0.1 fails to resolve) and reports, with the page's name:

- a page that does not load (a navigation error, or an HTTP status >= 400 for the document);
- a broken internal link: an ``<a href>`` to the local server whose file is missing, or whose
  ``#fragment`` names no ``id`` (nor ``<a name>``) on the target page;
- a missing image (``<img>`` loaded with no pixels) or a request that failed or got a status >= 400;
- math that did not render: MathJax error elements, or raw TeX (``$$``, ``\\(``, ``\\frac`` …)
  left in the text outside ``pre``, ``code``, ``script``, ``style`` and ``textarea``;
- a console error: ``console.error``/``console.assert``, an uncaught exception, a browser log error;
- any request to a host other than the local server.

It can also save full-page screenshots of the landing page and the scoreboard.
"""

from __future__ import annotations

import base64
import os
import re
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Iterable
from urllib.parse import unquote, urlsplit

from .chromium import BrowserError, Cdp, chromium, find_chromium, serve

__all__ = ["BrowserError", "book_pages", "check_book", "find_chromium"]

VIEWPORT = (1300, 1000)
# Seconds without a new navigation or request after which a page counts as settled.
SETTLE_S = 0.5
MAX_SCREENSHOT_HEIGHT = 12000
# Screenshot file -> the page to open for it (index.html redirects to the landing page).
SCREENSHOTS = {"home.png": "index.html", "scoreboard.png": "book/scoreboard.html"}
# Folders of a Sphinx build that hold assets, not pages (_static has Jinja macro templates named *.html).
NOT_PAGES = ("_static", "_sources", "_images")
# Schemes of requests that never leave the browser.
LOCAL_SCHEMES = ("data", "blob", "about", "chrome", "devtools")
RAW_TEX = re.compile(r"\$\$|\\[()\[\]]|\\(?:begin|end)\{|\\(?:d?frac|mathrm|mathbf|mathcal|mathbb|operatorname|"
                     r"sqrt|sum|cdot|left|right)(?![a-zA-Z])")


# --------------------------------------------------------------------------- the page script

# Runs in each page once it has loaded: waits for MathJax 2.7 and the images, then reports
# what the checks need. MATHJAX_MS is replaced by the time MathJax and the images may take.
PAGE_SCRIPT = """(async () => {
  const within = (promise, ms) => Promise.race([promise, new Promise(r => setTimeout(() => r('timeout'), ms))]);
  const mathjax = await within(new Promise(r => {
    if (!(window.MathJax && MathJax.Hub)) return r('absent');
    // after the start-up typesetting; the braces matter: a hook that returns a callback is waited for
    MathJax.Hub.Register.StartupHook('End', () => { MathJax.Hub.Queue(() => r('done')); });
  }), MATHJAX_MS);
  const images = [...document.images];
  images.forEach(img => { img.loading = 'eager'; });
  await within(Promise.all(images.map(img => img.complete ? null : new Promise(r => {
    img.addEventListener('load', r, {once: true});
    img.addEventListener('error', r, {once: true});
  }))), MATHJAX_MS);
  const skip = 'pre, code, script, style, textarea, noscript, template, annotation, annotation-xml';
  const walker = document.createTreeWalker(document.body || document.documentElement, NodeFilter.SHOW_TEXT);
  const text = [];
  for (let node; (node = walker.nextNode());) {
    if (node.parentElement && !node.parentElement.closest(skip)) text.push(node.data);
  }
  const refresh = document.querySelector('meta[http-equiv="refresh" i]');
  const refreshUrl = refresh && (refresh.content.match(/url\\s*=\\s*['"]?([^'"]+)/i) || [])[1];
  return {
    url: location.href,
    mathjax,
    ids: [...document.querySelectorAll('[id]')].map(e => e.id)
      .concat([...document.querySelectorAll('a[name]')].map(e => e.name)),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href)
      .concat(refreshUrl ? [new URL(refreshUrl, location.href).href] : []),
    brokenImages: images.filter(img => img.complete && img.naturalWidth === 0).map(img => img.src),
    mathErrors: [...document.querySelectorAll('.MathJax_Error, merror, .merror')].map(e => e.textContent.trim()),
    text: text.join(' '),
  };
})()"""


# Resolves once the page has laid out and painted twice (after a viewport resize).
FRAMES_SCRIPT = "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r, 200))))"


# --------------------------------------------------------------------------- visiting a page


@dataclass
class PageVisit:
    """What one page showed: where it ended up, its ids and links, and its own problems."""

    page: str
    url: str = ""
    ids: set[str] = field(default_factory=set)
    links: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def visit(cdp: Cdp, url: str, page: str, timeout: float, screenshot: Path | None = None) -> PageVisit:
    """Open ``url`` in a tab of its own (a fresh browser context: no storage from other pages, as on
    a first visit), wait for it, MathJax and its requests to settle, and check what happened."""
    result = PageVisit(page)
    deadline = time.monotonic() + timeout
    context = cdp.send("Target.createBrowserContext")["browserContextId"]
    try:
        target = cdp.send("Target.createTarget", {"url": "about:blank", "browserContextId": context})["targetId"]
        session = cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            cdp.send(f"{domain}.enable", session=session)
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True}, session=session)
        width, height = VIEWPORT
        cdp.send("Emulation.setDeviceMetricsOverride",
                 {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=session)
        try:
            if _load(cdp, session, target, url, deadline, result):
                _wait_for_requests(cdp, session, deadline)
                if screenshot is not None:
                    _screenshot(cdp, session, screenshot, deadline)
        except TimeoutError as e:
            result.problems.append(f"{result.page}: timed out after {timeout:.0f} s ({e})")
        result.problems += _event_problems(result.page, cdp.events.pop(session, []), url)
    finally:
        cdp.send("Target.disposeBrowserContext", {"browserContextId": context})
    return result


def _load(cdp: Cdp, session: str, frame: str, url: str, deadline: float, result: PageVisit) -> bool:
    """Navigate, follow redirects until the page stays put, then run the page script; False if it failed."""
    navigation = cdp.send("Page.navigate", {"url": url}, session=session, deadline=deadline)
    if navigation.get("errorText"):
        result.problems.append(f"{result.page}: does not load ({navigation['errorText']})")
        return False
    start = 0
    while True:  # a meta refresh (index.html) starts another navigation just after the load event
        start = cdp.wait(session, "Page.loadEventFired", deadline, start) + 1
        cdp.pump(min(deadline, time.monotonic() + SETTLE_S))
        if not any(e["method"] in ("Page.frameRequestedNavigation", "Page.frameStartedLoading")
                   and e["params"].get("frameId") == frame for e in cdp.events[session][start:]):
            break
    mathjax_ms = int(max(1.0, deadline - time.monotonic() - 2) * 1000)
    reply = cdp.send("Runtime.evaluate", {"expression": PAGE_SCRIPT.replace("MATHJAX_MS", str(mathjax_ms)),
                                          "awaitPromise": True, "returnByValue": True},
                     session=session, deadline=deadline)
    if "exceptionDetails" in reply:
        result.problems.append(f"{result.page}: the check's page script failed: "
                               f"{_exception_text(reply['exceptionDetails'])}")
        return False
    found = reply["result"]["value"]
    result.url, result.ids, result.links = found["url"], set(found["ids"]), found["links"]
    if found["url"] != url:  # what follows is the redirect's target
        result.page += f" (→ {urlsplit(found['url']).path.lstrip('/')})"
    result.problems += _content_problems(result.page, found)
    return True


def _wait_for_requests(cdp: Cdp, session: str, deadline: float) -> None:
    """Wait until no request is in flight and none starts for a while (fonts load after typesetting)."""
    while True:
        seen = len(cdp.events[session])
        cdp.pump(min(deadline, time.monotonic() + SETTLE_S))
        events = cdp.events[session]
        started = any(e["method"] == "Network.requestWillBeSent" for e in events[seen:])
        if not started and not _in_flight(events):
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"requests still loading: {', '.join(_in_flight(events).values())}")


def _in_flight(events: list[dict]) -> dict[str, str]:
    """Requests (id: URL) that have started but neither finished nor failed, leaving out those of a
    document the tab has left (after index.html's redirect its favicon request never ends)."""
    pending, documents = {}, []
    for event in events:
        params = event.get("params", {})
        if event["method"] == "Network.requestWillBeSent":
            pending[params["requestId"]] = (params.get("loaderId"), params["request"]["url"])
        elif event["method"] in ("Network.loadingFinished", "Network.loadingFailed"):
            pending.pop(params["requestId"], None)
        elif event["method"] == "Page.frameNavigated" and not params["frame"].get("parentId"):
            documents.append(params["frame"]["loaderId"])
    left = set(documents[:-1])
    return {request: url for request, (loader, url) in pending.items() if loader not in left}


def _content_problems(page: str, found: dict) -> list[str]:
    """Missing images, MathJax errors and raw TeX in what the page script found."""
    problems = [f"{page}: missing image {src}" for src in found["brokenImages"]]
    if found["mathjax"] == "timeout":
        problems.append(f"{page}: MathJax did not finish typesetting")
    problems += [f"{page}: MathJax error: {text!r}" for text in found["mathErrors"]]
    for match in list(RAW_TEX.finditer(found["text"]))[:5]:
        context = " ".join(found["text"][max(0, match.start() - 30):match.end() + 30].split())
        problems.append(f'{page}: raw TeX "{match.group()}" in the text: …{context}…')
    return problems


def _screenshot(cdp: Cdp, session: str, path: Path, deadline: float) -> None:
    """Save a full-page PNG: grow the viewport to the page's height (up to a limit), then capture it.

    (``captureBeyondViewport`` instead left the theme's sidebar and article shifted off the left edge.)
    """
    size = cdp.send("Page.getLayoutMetrics", session=session, deadline=deadline)["cssContentSize"]
    height = int(min(max(size["height"], VIEWPORT[1]), MAX_SCREENSHOT_HEIGHT))
    cdp.send("Emulation.setDeviceMetricsOverride",
             {"width": VIEWPORT[0], "height": height, "deviceScaleFactor": 1, "mobile": False},
             session=session, deadline=deadline)
    cdp.send("Runtime.evaluate", {"expression": FRAMES_SCRIPT, "awaitPromise": True}, session=session,
             deadline=deadline)
    shot = cdp.send("Page.captureScreenshot", {"format": "png"}, session=session, deadline=deadline)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


# --------------------------------------------------------------------------- events into problems


def _event_problems(page: str, events: list[dict], page_url: str) -> list[str]:
    """Console errors, exceptions, failed or external requests among a tab's events."""
    origin = _origin(page_url)
    requests: dict[str, str] = {}
    answered: set[str] = set()  # requests with a status >= 400 (Chromium may then also fail them)
    problems = []
    for event in events:
        method, params = event["method"], event.get("params", {})
        if method == "Network.requestWillBeSent":
            request_url = params["request"]["url"]
            requests[params["requestId"]] = request_url
            if urlsplit(request_url).scheme not in LOCAL_SCHEMES and _origin(request_url) != origin:
                problems.append(f"{page}: request to an external host: {request_url}")
        elif method == "Network.responseReceived":
            response = params["response"]
            status, resource_type = response["status"], params.get("type")
            if status >= 400:
                answered.add(params["requestId"])
            if status >= 400 and resource_type == "Document":
                problems.append(f"{page}: does not load (HTTP {status} for {response['url']})")
            elif status >= 400 and not _chromium_favicon(response["url"], resource_type, origin):
                problems.append(f"{page}: HTTP {status} for {response['url']}")
        elif method == "Network.loadingFailed":
            request_url = requests.get(params["requestId"], "?")
            if params["requestId"] not in answered and not _chromium_favicon(request_url, params.get("type"), origin):
                problems.append(f"{page}: request failed ({params.get('errorText')}): {request_url}")
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            text = " ".join(str(_remote_value(arg)) for arg in params.get("args", []))
            problems.append(f"{page}: console.{params['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            problems.append(f"{page}: uncaught exception: {_exception_text(params['exceptionDetails'])}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            # a failed request is reported above from the Network events, with its status
            if entry.get("source") == "network" and entry.get("url") in requests.values():
                continue
            problems.append(f"{page}: browser log error ({entry.get('source')}): {entry.get('text')}")
    return problems


def _chromium_favicon(url: str, resource_type: str | None, origin: str) -> bool:
    """Chromium's own request for /favicon.ico: the book configures no favicon and links none, so
    the browser asks the server root by itself; a 404 there is not the book's fault."""
    return resource_type in ("Other", None) and url == origin + "/favicon.ico"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _remote_value(arg: dict) -> object:
    return arg.get("value", arg.get("description", arg.get("unserializableValue", arg.get("type"))))


def _exception_text(details: dict) -> str:
    exception = details.get("exception") or {}
    text = (exception.get("description") or details.get("text", "")).split("\n")[0]
    return f"{text} ({details.get('url', '')}:{details.get('lineNumber', 0) + 1})"


# --------------------------------------------------------------------------- the whole book


def book_pages(html_dir: Path) -> list[str]:
    """Every HTML page of a built book, relative to ``html_dir`` (asset folders left out)."""
    pages = (p.relative_to(html_dir).as_posix() for p in html_dir.rglob("*.html"))
    return sorted(p for p in pages if p.split("/")[0] not in NOT_PAGES)


def check_book(html_dir: Path, screenshots: Path | None = None, pages: Iterable[str] | None = None,
               timeout: float = 30.0) -> list[str]:
    """Open each page of the built book (default: all) in headless Chromium; return the problems.

    ``screenshots``: a folder for ``home.png`` and ``scoreboard.png``. ``timeout``: seconds per page.
    """
    html_dir = Path(html_dir).resolve()
    pages = list(pages) if pages is not None else book_pages(html_dir)
    shots = {page: Path(screenshots) / name for name, page in SCREENSHOTS.items()} if screenshots else {}
    problems = [f"{page}: no such page for the screenshot {path.name}" for page, path in shots.items()
                if page not in pages]
    visits: dict[str, PageVisit] = {}
    with serve(html_dir) as base, chromium() as browser_url:
        cdp = Cdp(browser_url)
        try:
            for page in pages:
                visits[page] = visit(cdp, base + page, page, timeout, shots.get(page))
        except TimeoutError as e:  # a page's own time-outs are problems; this is the browser
            raise BrowserError(f"headless Chromium stopped answering ({e})") from e
        finally:
            cdp.close()
    for result in visits.values():
        problems += result.problems + _link_problems(result, visits, html_dir, base)
    return list(dict.fromkeys(problems))


def _link_problems(result: PageVisit, visits: dict[str, PageVisit], html_dir: Path, base: str) -> list[str]:
    """Links of a page to the local server whose file, or whose #fragment on a book page, is missing."""
    ids_by_url = {v.url.split("#")[0]: v.ids for v in visits.values() if v.url}
    problems = []
    for link in dict.fromkeys(result.links):
        parts = urlsplit(link)
        if _origin(link) != _origin(base):
            continue
        path = unquote(parts.path).lstrip("/")
        target = Path(os.path.normpath(html_dir / path))
        if target.is_dir():
            target = target / "index.html"
        if not target.is_relative_to(html_dir) or not target.is_file():
            problems.append(f"{result.page}: broken link to {path or '/'} (no such file)")
            continue
        fragment = unquote(parts.fragment)
        if fragment and target.suffix == ".html":
            page_url = base + target.relative_to(html_dir).as_posix()
            ids = ids_by_url.get(page_url)
            if ids is None:
                ids = _static_ids(target)
            if fragment not in ids:
                problems.append(f"{result.page}: broken link to {path}#{fragment} (no such id on the page)")
    return problems


class _IdParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.ids.update(v for k, v in attrs.items() if k == "id" or (tag == "a" and k == "name") if v)


def _static_ids(path: Path) -> set[str]:
    """The ids of a page that was not opened (``check_book(pages=...)``), from its HTML."""
    parser = _IdParser()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser.ids
