"""Drive the real ComfyUI frontend in Debian's headless Chromium with Playwright (no browser download)."""
from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def browser_unavailable_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not shutil.which(CHROMIUM):
        return f"{CHROMIUM} is not installed (scripts/host.py installs Debian's chromium where it has root and apt)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as err:
        return f"the playwright Python package is missing: {err}"
    return None


class FrontendPage:
    """The ComfyUI frontend opened on a server, with the few graph operations the tests need."""

    def __init__(self, page: Any):
        self.page = page
        self.errors: list[str] = []
        self.console: list[tuple[str, str]] = []  # (type, text) of the page's console warnings and errors
        self.responses: list[tuple[str, int]] = []  # (url, status) of every response the page received
        page.on("response", lambda r: self.responses.append((r.url, r.status)))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("console", lambda m: self.console.append((m.type, m.text)) if m.type in ("warning", "error")
                else None)

    def open(self, url: str) -> None:
        # A first start shows the templates dialog; a user who has used ComfyUI before has this setting.
        self.page.request.post(url + "/settings/Comfy.TutorialCompleted", data="true")
        self.page.request.post(url + "/settings/Comfy.Minimap.Visible", data="false")
        self.page.goto(url + "/")
        self.page.wait_for_function("window.app && window.app.graph && window.LiteGraph", timeout=90_000)
        self.close_dialogs()

    def close_dialogs(self) -> None:
        self.page.evaluate("() => document.querySelectorAll('.p-dialog .p-dialog-close-button')"
                           ".forEach(b => b.click())")

    def fit_view(self) -> None:
        """Frame every node and group of the graph on the canvas, then redraw."""
        self.page.evaluate("""() => {
          const c = window.app.canvas, g = window.app.graph;
          const box = (p, s, top) => [p[0], p[1] - top, p[0] + s[0], p[1] + s[1]];
          const boxes = g._nodes.map(n => box(n.pos, n.size, 40))
            .concat((g._groups || []).map(r => box(r.pos, r.size, 0)));
          const x0 = Math.min(...boxes.map(b => b[0])), y0 = Math.min(...boxes.map(b => b[1]));
          const x1 = Math.max(...boxes.map(b => b[2])), y1 = Math.max(...boxes.map(b => b[3]));
          const r = window.devicePixelRatio || 1, w = c.canvas.width / r, h = c.canvas.height / r;
          const scale = Math.min(w / (x1 - x0 + 120), (h - 130) / (y1 - y0 + 120));
          c.ds.scale = scale;
          c.ds.offset = [-x0 + 60 / scale, -y0 + 130 / scale];
          c.low_quality_zoom_threshold = 0;
          c.setDirty(true, true);
        }""")
        self.page.wait_for_timeout(500)

    def load_ui_workflow(self, workflow: dict[str, Any]) -> None:
        """What drag-and-drop of a saved workflow does: ``app.loadGraphData``."""
        self.page.evaluate("async (wf) => { await window.app.loadGraphData(wf); }", workflow)

    def load_api_workflow(self, workflow: dict[str, Any]) -> None:
        self.page.evaluate("async (wf) => { await window.app.loadApiJson(wf, 'workflow.json'); }", workflow)

    def widget_warnings(self) -> list[str]:
        """Console warnings/errors about widgets or node inputs (what a frontend logs for values it cannot use)."""
        return [f"{kind}: {text}" for kind, text in self.console
                if any(w in text.lower() for w in ("widget", "input", "missing", "invalid"))]

    def missing_node_types(self) -> list[str]:
        return self.page.evaluate(
            "() => window.app.graph._nodes.filter(n => !window.LiteGraph.registered_node_types[n.type])"
            ".map(n => n.type)")

    def dialog_texts(self) -> list[str]:
        """Texts of visible dialogs (error and missing-node dialogs are PrimeVue dialogs)."""
        return self.page.evaluate(
            "() => Array.from(document.querySelectorAll('.p-dialog')).filter(d => d.offsetParent !== null)"
            ".map(d => d.innerText)")

    def set_widget(self, node_type: str, name: str, value: Any) -> int:
        """Set a widget on every node of ``node_type`` as a user would; returns how many were changed."""
        return self.page.evaluate(
            """([type, name, value]) => { let n = 0;
                 for (const node of window.app.graph._nodes.filter(x => x.type === type)) {
                   const w = (node.widgets || []).find(w => w.name === name);
                   if (w) { w.value = value; w.callback?.(value); n++; } }
                 return n; }""", [node_type, name, value])

    def serialize(self) -> dict[str, Any]:
        return self.page.evaluate("() => window.app.graph.serialize()")

    def api_prompt(self) -> dict[str, Any]:
        return self.page.evaluate("async () => (await window.app.graphToPrompt()).output")

    def extension_templates(self, extension: str) -> list[dict[str, Any]]:
        """What the template browser (Browse Templates) shows under ``extension`` in its Extensions section: one
        ``{"name", "src", "width"}`` per card (its thumbnail's URL, often a ``blob:`` of the fetched file, and its
        decoded width; 0 = not loaded); the fetched files are in :attr:`responses`."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        self.page.evaluate("() => window.app.extensionManager.command.execute('Comfy.BrowseTemplates')")
        self.page.get_by_role("button", name=extension, exact=True).click()
        cards = "[data-testid^='template-workflow-']"
        self.page.locator(cards).first.wait_for(timeout=30_000)
        # Cards render their <img> lazily, when in view: show each card once, then wait until every card has an
        # <img> whose source has loaded (one without a source also counts as "complete"); after the timeout the
        # state is returned as it is, so the caller's assertion names the card that did not load.
        for index in range(self.page.locator(cards).count()):
            self.page.locator(cards).nth(index).scroll_into_view_if_needed()
        try:
            self.page.wait_for_function(f"""() => Array.from(document.querySelectorAll("{cards}")).every(c => {{
                const i = c.querySelector("img"); return i && i.currentSrc && i.complete && i.naturalWidth > 0; }})""",
                                        timeout=30_000)
        except PlaywrightTimeout:
            pass
        return self.page.evaluate(f"""() => Array.from(document.querySelectorAll("{cards}")).map(c => {{
            const img = c.querySelector("img");
            return {{name: c.dataset.testid.slice("template-workflow-".length), src: img ? img.currentSrc : "",
                     width: img ? img.naturalWidth : 0}}; }})""")

    def queue(self) -> None:
        """Queue like the Run button."""
        self.page.evaluate("async () => { await window.app.queuePrompt(0); }")


@contextlib.contextmanager
def frontend(url: str, viewport: tuple[int, int] = (1600, 1000)) -> Iterator[FrontendPage]:
    """Headless Chromium on ``url``'s frontend; always closed."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            fp = FrontendPage(page)
            fp.open(url)
            yield fp
        finally:
            browser.close()
