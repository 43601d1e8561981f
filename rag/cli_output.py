"""What the ``rag`` command prints: progress bars, ingest reports, answers with their sources."""

from __future__ import annotations

import sys

from .types import source_name


def progress(label: str):
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int, what: str) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=label, unit="file", file=sys.stderr, leave=False,
                       disable=None)
        bar.n = done
        bar.set_postfix_str(source_name(what)[-40:], refresh=False)
        bar.refresh()
        if done == total:
            bar.close()

    return update


def print_report(report) -> None:
    print(f"added {len(report.added)}, updated {len(report.updated)}, unchanged "
          f"{len(report.unchanged)}, removed {len(report.removed)}, failed {len(report.failed)} "
          f"({report.chunks} chunks written)")
    for path, reason in report.failed:
        print(f"  failed: {one_line(path)}: {one_line(' '.join(reason.split()))}", file=sys.stderr)


def one_line(text: str) -> str:
    """``text`` printable on one line: control characters (a newline in a file name) and the
    undecodable bytes of a file name are escaped."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def print_answer(answer) -> None:
    if answer.text:
        print(answer.text)
    if answer.unsupported:
        print("\n⚠ Not supported by the documents (no source holds these sentences):")
        for sentence in answer.unsupported:
            print(f"  - {sentence}")
    if answer.citations:
        print("\nSources:")
    for c in answer.citations:
        where = f"{c.source}:{c.start}-{c.end}" + (f" (page {c.page})" if c.page else "")
        where += f" § {c.section}" if c.section else ""
        print(f"[{c.number}] {c.title or source_name(c.source)}" + (f" ({c.date})" if c.date else ""))
        print(f"    {where}")
        print(f"    « {c.quote} »")
