"""The commands of saved work: ``rag chat`` (each conversation saved), ``rag conversations``, and
``rag feedback`` (the ratings given to answers, exported as an evaluation set). They act for the
data dir's owner, the local user of ``rag.conversations``."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

from .cli import question_filters, question_options
from .cli_output import print_answer


def register(commands) -> None:
    c = commands.add("chat", chat, "multi-turn questions in the terminal (empty line or Ctrl-D quits); "
                     "the conversation is saved")
    question_options(c)
    c.add_argument("--resume", metavar="ID", help="go on with saved conversation ID (`rag conversations` lists them)")

    c = commands.add("conversations", conversations, "list the saved conversations, or show, export, "
                     "rename or delete one")
    c.add_argument("action", nargs="?", choices=["list", "show", "export", "rename", "delete"], default="list")
    c.add_argument("id", nargs="?", help="the conversation (its id, from the list)")
    c.add_argument("title", nargs="?", help="the new title (rename)")
    c.add_argument("--json", action="store_true", help="list or export as JSON (export's default: Markdown)")

    c = commands.add("feedback", feedback, "list the thumbs up and down given to answers (in the chat "
                     "or over REST), or export them as a `rag eval` dataset")
    c.add_argument("action", nargs="?", choices=["list", "export"], default="list")
    c.add_argument("dir", nargs="?", type=Path, help="export: a new folder for questions.jsonl and docs/")
    c.add_argument("--rating", choices=["up", "down", "all"], default="up",
                   help="export: the answers rated up (the default: a regression set ready for "
                        "`rag eval`), down (questions whose gold answers a person must write), or all")
    c.add_argument("--json", action="store_true", help="list as JSON")


def chat(rag, args) -> int:
    from rag.types import Answer

    from .conversations import LOCAL_USER

    saved = rag.conversations.get(LOCAL_USER, args.resume) if args.resume else None
    asked = rag.collection(saved.collection) if saved else rag
    for turn in saved.turns if saved else []:
        print(f"> {turn.question}\n{turn.answer['text']}\n")
    filters = question_filters(args)
    history: list[dict] = saved.history() if saved else []
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
        for piece in asked.stream(question, history=history, filters=filters, k=args.k):
            if isinstance(piece, Answer):
                final = piece
            else:
                streamed.append(piece)
                print(piece, end="", flush=True)
        print()
        if final.query != question:
            print(f"(searched for: {final.query})")
        if final.text != "".join(streamed):  # a model's text, once its citations are checked
            print(f"\nChecked answer: {final.text}")
        print_answer(replace(final, text=""))
        if saved is None:
            saved = rag.conversations.create(LOCAL_USER, asked.settings.collection)
            print(f"(saved as conversation {saved.id}: `rag chat --resume {saved.id}` goes on with it)")
        rag.conversations.add_turn(LOCAL_USER, saved.id, question, final.to_dict())
        history += [{"role": "user", "content": question},
                    {"role": "assistant", "content": final.text}]


def conversations(rag, args) -> int:
    from .conversations import LOCAL_USER, to_json, to_markdown
    from .errors import UsageError

    store = rag.conversations
    if args.action == "list":
        listed = store.list(LOCAL_USER)
        if args.json:
            print(json.dumps([{k: v for k, v in asdict(c).items() if k != "turns"} for c in listed], indent=2))
        for c in [] if args.json else listed:
            print(f"{c.id} | {c.collection} | {c.title}")
        return 0
    if not args.id:
        raise UsageError(f"rag conversations {args.action} needs the conversation's ID")
    if args.action == "rename":
        print(f"renamed: {store.rename(LOCAL_USER, args.id, args.title or '').title}")
    elif args.action == "delete":
        store.delete(LOCAL_USER, args.id)
        print(f"deleted conversation {args.id}")
    elif args.action == "show" or not args.json:
        print(to_markdown(store.get(LOCAL_USER, args.id)), end="")
    else:
        print(json.dumps(to_json(store.get(LOCAL_USER, args.id)), ensure_ascii=False, indent=2))
    return 0


def feedback(rag, args) -> int:
    from .errors import UsageError
    from .feedback import export

    given = rag.conversations.feedback()
    if args.action == "list":
        if args.json:
            print(json.dumps([asdict(f) for f in given], ensure_ascii=False, indent=2))
        for f in [] if args.json else given:
            print(f"{f.rating:4} | {f.user} | {f.collection} | {f.question}" + (f" | {f.comment}" if f.comment else ""))
        return 0
    if args.dir is None:
        raise UsageError("rag feedback export needs the folder to write (a new one)")
    ratings = ("up", "down") if args.rating == "all" else (args.rating,)
    done = export(given, args.dir, ratings)
    print(f"{done.questions} question(s) and {done.documents} document(s) written to {args.dir}; "
          f"`rag eval {args.dir}` runs them")
    for source in done.missing:
        print(f"  left out (its document is gone): {source}")
    return 0
