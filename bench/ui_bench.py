"""What the web UI adds to answering: press Enter -> first streamed text, and -> full answer with
its sources shown, in a real browser (chromium via Playwright), next to the same question timed
from Python (``rag.stream`` first piece, ``rag.ask``). Median of 5 after one warm-up.

    python -m bench.ui_bench [--question "..."] [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

OBSERVE = """() => {
  window.__t = {};
  const box = document.querySelector('#question textarea');
  box.addEventListener('keydown', e => { if (e.key === 'Enter') window.__t.enter = performance.now(); },
                       {capture: true, once: true});
  const obs = new MutationObserver(() => {
    const t = window.__t, now = performance.now();
    if (!t.enter) return;
    const bots = document.querySelectorAll('#chatbot [data-testid="bot"]');
    if (!t.first && bots.length && bots[bots.length - 1].innerText.trim()) t.first = now;
    if (!t.full && document.querySelector('#sources-panel .cite, #sources-panel .abstained')) {
      t.full = now; obs.disconnect(); }
  });
  obs.observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _python_times(rag, question: str, runs: int) -> tuple[list[float], list[float]]:
    from rag.types import Answer

    rag.ask(question)  # warm-up
    first, full = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        for piece in rag.stream(question):
            if not isinstance(piece, Answer):
                first.append(time.perf_counter() - t0)
                break
        for piece in rag.stream(question):  # drain the rest of a fresh stream
            pass
        t0 = time.perf_counter()
        rag.ask(question)
        full.append(time.perf_counter() - t0)
    return first, full


def _ui_times(url: str, question: str, runs: int) -> tuple[list[float], list[float]]:
    from playwright.sync_api import sync_playwright

    first, full = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        page.goto(url)
        page.wait_for_selector("#question textarea")
        for i in range(runs + 1):  # the first is a warm-up
            page.get_by_role("button", name="New conversation").click()
            page.wait_for_function("() => !document.querySelector('#chatbot [data-testid=\"bot\"]')"
                                   " && document.querySelector('#sources-panel .sources-empty')")
            box = page.locator("#question textarea")
            box.fill(question)
            page.evaluate(OBSERVE)
            box.press("Enter")
            page.wait_for_function("() => window.__t.full && window.__t.first")
            t = page.evaluate("() => window.__t")
            if i:
                first.append((t["first"] - t["enter"]) / 1000)
                full.append((t["full"] - t["enter"]) / 1000)
        browser.close()
    return first, full


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--question", default="How do I remove a document?")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    if not shutil.which("chromium"):
        print("chromium not found: install it (apt install chromium) to run this benchmark")
        return 1

    from rag import RAG
    from ui.app import launch

    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        shutil.copytree(REPO / "rag" / "sample_docs", docs)
        rag = RAG(data_dir=Path(tmp) / "data")
        rag.ingest([docs])
        py_first, py_full = _python_times(rag, args.question, args.runs)
        app = launch(rag, port=_free_port(), prevent_thread_lock=True, quiet=True)
        try:
            ui_first, ui_full = _ui_times(app.local_url, args.question, args.runs)
        finally:
            app.close()
            rag.close()

    med = statistics.median
    print(f"question: {args.question!r}   (median of {args.runs}, seconds)")
    print(f"{'':28}{'python':>10}{'browser UI':>12}{'UI adds':>10}")
    for label, py, ui in (("first streamed text", py_first, ui_first),
                          ("full answer with sources", py_full, ui_full)):
        print(f"{label:28}{med(py):>10.3f}{med(ui):>12.3f}{med(ui) - med(py):>+10.3f}")
    print("runs  python first: " + " ".join(f"{x:.3f}" for x in py_first))
    print("      UI first:     " + " ".join(f"{x:.3f}" for x in ui_first))
    print("      python full:  " + " ".join(f"{x:.3f}" for x in py_full))
    print("      UI full:      " + " ".join(f"{x:.3f}" for x in ui_full))
    added = med(ui_full) - med(py_full)
    print(f"target: UI adds <= 0.300 s to the full answer -> {'met' if added <= 0.3 else 'NOT met'}"
          f" ({added:+.3f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
