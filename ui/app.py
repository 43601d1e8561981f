"""The web chat: layout and event wiring over ``rag.RAG`` (rendering in ``render``, uploads in
``uploads``, login in ``auth``).

    from rag import RAG
    from ui.app import launch
    launch(RAG(data_dir="rag_data"))          # http://127.0.0.1:7860
"""

from __future__ import annotations

import logging

import gradio as gr

from rag import RAG, Filters
from rag.errors import FilterError
from rag.types import Answer, source_name

from .app_api import add_api_endpoints
from .auth import resolve_auth
from .conversations import choices as saved_choices
from .conversations import new_chat, restored, user_of
from .render import (EMPTY_HTML, chat_text, document_choices, document_rows, error_message,
                     report_markdown, sources_html)
from .uploads import MAX_UPLOAD_MB, SUPPORTED_SUFFIXES, ingest_uploads, remove_document

log = logging.getLogger(__name__)

INTRO = """# rag-cite — ask your documents
Ask a question in English, French or another language: the answer quotes the passages it comes
from, numbered **[1]**, **[2]**… The panel on the right shows each cited passage with the quoted
text highlighted (click an answer to see its sources). When the documents don't hold the answer,
it says so. Add your own files in the **Documents** tab. Everything runs on this computer."""

EXAMPLES = [
    "How do I remove a document?",
    "Que fait l'assistant quand les documents ne contiennent pas la réponse ?",
    "Quand commenceront les pourparlers entre la Russie et les États-Unis ?",
]

CSS = """
#sources-panel { max-height: 640px; overflow-y: auto; }
#sources-panel .cite { border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 8px 10px; margin-bottom: 10px; background: var(--background-fill-secondary); }
#sources-panel .cite-head { font-size: 0.9em; margin-bottom: 6px; }
#sources-panel .cite-num { font-weight: 700; color: var(--color-accent); }
#sources-panel .cite-passage { white-space: pre-wrap; font-size: 0.92em; line-height: 1.45; }
#sources-panel mark { background: #ffe58a; color: #111; padding: 0 1px; border-radius: 2px; }
#sources-panel .cite-note, #sources-panel .sources-query, #sources-panel .sources-question {
  font-size: 0.85em; opacity: 0.85; margin-bottom: 6px; }
#sources-panel .unsupported { border-left: 4px solid #dc2626; padding: 8px 12px; margin-bottom: 8px; }
#sources-panel .abstained { border-left: 4px solid #d97706; padding: 8px 12px;
  background: var(--background-fill-secondary); }
"""

def parse_filters(sources, date_from, date_to) -> Filters | None:
    """The ``filters`` of ``rag.ask``/``rag.stream`` from the filter widgets; a ``FilterError``
    naming the field for a malformed date."""
    filters = Filters(sources=[str(s) for s in sources or []], date_from=date_from, date_to=date_to)
    return None if filters == Filters() else filters


def plain_history(history) -> list[dict]:
    """Chatbot messages as ``{"role", "content": str}`` (gradio hands content as a list of parts)."""
    out = []
    for m in history or []:
        content = m.get("content")
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content
                               if isinstance(p, dict) and p.get("type") == "text")
        out.append({"role": m.get("role", "user"), "content": str(content or "")})
    return out


def _selected_index(index) -> int | None:
    while isinstance(index, (list, tuple)) and index:
        index = index[0]
    return index if isinstance(index, int) else None


def build_app(rag: RAG) -> gr.Blocks:
    """The Blocks app over ``rag``: chat with sources, documents, and the ``ask``/``ingest``
    API endpoints. Each page works on the collection its selector shows (``rag``'s own at
    first): its answers, uploads and list of documents."""

    def chosen(name, request) -> RAG:
        """The collection ``name`` (default: ``rag``'s own), if it is open to the request's user."""
        return rag.collection(name or rag.settings.collection, user_of(request))

    def doc_updates(filter_value, collection, request):
        docs = chosen(collection, request).sources()
        choices = document_choices(docs)
        known = {c[1] for c in choices}
        kept = [v for v in (filter_value or []) if v in known]
        return (document_rows(docs), gr.Dropdown(choices=choices, value=None),
                gr.Dropdown(choices=choices, value=kept))

    # -- chat ---------------------------------------------------------------------------------
    def respond(question, history, answers, filter_sources, date_from, date_to, collection,
                conversation, request: gr.Request):
        question = (question or "").strip()
        history = plain_history(history)
        answers = dict(answers or {})
        if not question:
            gr.Warning("Type a question first.")
            yield history, answers, gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        try:
            filters = parse_filters(filter_sources, date_from, date_to)
        except FilterError as exc:
            gr.Warning(str(exc))
            yield history, answers, gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        past = list(history)
        history = past + [{"role": "user", "content": question},
                          {"role": "assistant", "content": ""}]
        slot = len(history) - 1
        yield (history, answers, '<div class="sources-empty">Searching the documents…</div>', "",
               gr.skip(), gr.skip())
        text, final = "", None
        try:
            for piece in chosen(collection, request).stream(question, history=past, filters=filters):
                if isinstance(piece, Answer):
                    final = piece
                    continue
                text += piece
                history[slot] = {"role": "assistant", "content": text}
                yield history, answers, gr.skip(), gr.skip(), gr.skip(), gr.skip()
        except Exception as exc:  # a message, not a traceback
            log.exception("answering %r failed", question)
            gr.Warning(f"Could not answer: {error_message(exc)}")
            history[slot] = {"role": "assistant", "content": f"⚠️ Could not answer: {error_message(exc)}"}
            yield (history, answers, f'<div class="abstained">⚠️ Could not answer: {_esc(error_message(exc))}</div>',
                   gr.skip(), gr.skip(), gr.skip())
            return
        if final is None:
            final = Answer(text=text, query=question)
        history[slot] = {"role": "assistant", "content": chat_text(final)}
        user = user_of(request)
        if conversation is None:  # its first answer: the conversation is saved from now on
            conversation = rag.conversations.create(user, collection or rag.settings.collection).id
        turn = rag.conversations.add_turn(user, conversation, question, final.to_dict())
        answers[slot] = {"question": question, "answer": turn.answer, "turn": turn.number, "collection": collection}
        yield (history, answers, sources_html(turn.answer, question, chosen(collection, request)), gr.skip(), conversation,
               gr.Dropdown(choices=saved_choices(rag, user), value=conversation))

    def on_select(answers, request: gr.Request, evt: gr.SelectData):
        i = _selected_index(evt.index)
        answers = answers or {}
        if i is None:
            return gr.skip()
        entry = answers.get(i) or answers.get(i + 1)  # an answer, or the question just above it
        if entry is None:
            return gr.skip()
        return sources_html(entry["answer"], entry["question"], chosen(entry.get("collection"), request))

    def on_rate(answers, conversation, evt: gr.LikeData, request: gr.Request):
        """A thumb up or down on an answer: saved at once; a comment can follow."""
        entry = (answers or {}).get(_selected_index(evt.index))
        if entry is None or conversation is None or not isinstance(evt.liked, bool):
            return gr.skip(), gr.skip()
        rated = {"conversation_id": conversation, "turn": entry["turn"], "rating": "up" if evt.liked else "down"}
        try:
            rag.conversations.rate(user_of(request), **rated)
        except Exception as exc:
            raise gr.Error(f"Could not save your rating: {error_message(exc)}", print_exception=False) from None
        gr.Info("Thank you: your rating is saved. A comment below says why, if you like.")
        return rated, gr.Row(visible=True)

    def on_comment(rated, text, request: gr.Request):
        if not rated:
            gr.Warning("Rate an answer first (the thumbs under it).")
            return gr.skip()
        try:
            rag.conversations.rate(user_of(request), **rated, comment=text or "")
        except Exception as exc:
            raise gr.Error(f"Could not save your comment: {error_message(exc)}", print_exception=False) from None
        gr.Info("Your comment is saved with your rating.")
        return ""

    # -- documents ----------------------------------------------------------------------------
    def ingest_files(files, request, progress=None, collection=None):
        def tick(done, total, what):
            if progress is not None:
                progress((done, total), desc=f"Indexing {source_name(what)}", unit="files")

        return ingest_uploads(chosen(collection, request), [str(f) for f in files or []], progress=tick)

    def on_add_page(url, filter_value, collection, request: gr.Request):
        """A web page by its URL, fetched by the server: only from the hosts of ``url_allow``."""
        if not (url or "").strip():
            gr.Warning("Paste the address of a web page first.")
            return (gr.skip(),) * 5
        try:
            report = chosen(collection, request).ingest([url.strip()], on_behalf=True)
        except Exception as exc:
            log.exception("adding a web page failed")
            raise gr.Error(f"Indexing failed: {error_message(exc)}", print_exception=False) from None
        if report.failed:
            gr.Warning("The page could not be indexed; see why below.")
        return (report_markdown(report, []), *doc_updates(filter_value, collection, request),
                gr.skip() if report.failed else "")

    def on_upload(files, filter_value, collection, request: gr.Request, progress=gr.Progress()):
        if not files:
            gr.Warning("Choose or drop files first.")
            return (gr.skip(),) * 5
        try:
            report, rejected = ingest_files(files, request, progress, collection)
            if report.failed or rejected:
                gr.Warning(f"{len(report.failed) + len(rejected)} file(s) could not be indexed; "
                           "see the list below.")
            return (report_markdown(report, rejected), *doc_updates(filter_value, collection, request), None)
        except Exception as exc:
            log.exception("ingest failed")
            raise gr.Error(f"Indexing failed: {error_message(exc)}", print_exception=False) from None

    def on_remove(path, filter_value, collection, request: gr.Request):
        if not path:
            gr.Warning("Pick a document to remove.")
            return (gr.skip(),) * 4
        try:
            removed = remove_document(chosen(collection, request), path)
        except Exception as exc:
            log.exception("remove failed")
            raise gr.Error(f"Could not remove the document: {error_message(exc)}", print_exception=False) from None
        msg = f"Removed **{_esc(source_name(path))}**." if removed else "No indexed document matched."
        return (msg, *doc_updates(filter_value, collection, request))

    def on_refresh(filter_value, collection, request: gr.Request):
        try:
            return doc_updates(filter_value, collection, request)
        except Exception as exc:
            log.exception("listing the documents failed")
            raise gr.Error(f"Could not list the documents: {error_message(exc)}", print_exception=False) from None

    def on_collection(collection, request: gr.Request):
        """Another collection: a new conversation, over its documents."""
        return (new_chat(), {}, EMPTY_HTML, None, gr.Dropdown(value=None), *on_refresh([], collection, request))

    # -- saved conversations ------------------------------------------------------------------
    def on_pick(conversation, request: gr.Request):
        """A saved conversation brought back: its turns, their sources, its collection."""
        if not conversation:
            return (gr.skip(),) * 8
        try:
            chat, answers, panel, collection = restored(rag, user_of(request), conversation)
        except Exception as exc:
            raise gr.Error(f"Could not open the conversation: {error_message(exc)}", print_exception=False) from None
        return (chat, answers, panel, conversation, gr.Dropdown(value=collection),
                *on_refresh([], collection, request))

    def on_rename(conversation, title, request: gr.Request):
        if not conversation:
            gr.Warning("Pick a saved conversation first.")
            return gr.skip()
        try:
            rag.conversations.rename(user_of(request), conversation, title or "")
        except Exception as exc:
            raise gr.Error(f"Could not rename: {error_message(exc)}", print_exception=False) from None
        return gr.Dropdown(choices=saved_choices(rag, user_of(request)), value=conversation)

    def on_delete(conversation, request: gr.Request):
        if not conversation:
            gr.Warning("Pick a saved conversation first.")
            return (gr.skip(),) * 5
        try:
            rag.conversations.delete(user_of(request), conversation)
        except Exception as exc:
            raise gr.Error(f"Could not delete: {error_message(exc)}", print_exception=False) from None
        return new_chat(), {}, EMPTY_HTML, None, gr.Dropdown(choices=saved_choices(rag, user_of(request)), value=None)

    def on_load(filter_value, collection, request: gr.Request):
        """The collections as they are now (another process may have made one), the user's
        conversations, the latest brought back (a reload loses nothing), then the documents."""
        user = user_of(request)
        names = rag.collection_names(user)
        listed = saved_choices(rag, user)
        latest = restored(rag, user, listed[0][1]) if listed else None
        if latest and latest[3] in names:  # not one whose collection is no longer open to them
            shown, answers, panel, kept = latest
            chat = (shown, answers, panel, listed[0][1])
        else:
            kept = next((n for n in (collection, rag.settings.collection, *names) if n in names), None)
            chat = (new_chat(), {}, EMPTY_HTML, None)
        docs = on_refresh(filter_value, kept, request) if kept else ([], gr.Dropdown(choices=[]), gr.Dropdown(choices=[]))
        return (gr.Dropdown(choices=names, value=kept), *chat,
                gr.Dropdown(choices=listed, value=chat[3]), *docs)

    # -- layout -------------------------------------------------------------------------------
    # delete_cache: gradio's own copies of uploads are dropped after an hour
    with gr.Blocks(title="rag-cite", analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        gr.Markdown(INTRO)
        answers = gr.State({})
        conversation = gr.State(None)  # the saved conversation's id, once it has an answer
        rated = gr.State(None)  # the last rating given: its conversation, turn and rating
        collection = gr.Dropdown(label="Collection", choices=[rag.settings.collection],
                                 value=rag.settings.collection, elem_id="collection",
                                 info="The set of documents to ask and to add to")
        with gr.Tab("Chat", id="chat"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=360):
                    chatbot = gr.Chatbot(label="Conversation", elem_id="chatbot", height=520,
                                         feedback_options=("Like", "Dislike"), buttons=["copy"],
                                         placeholder="Answers appear here, with their citations.")
                    with gr.Row(visible=False) as comment_row:  # once an answer is rated
                        comment = gr.Textbox(label="Comment on your rating (optional)", scale=4,
                                             elem_id="feedback-comment")
                        send_comment = gr.Button("Send comment", size="sm", scale=1, elem_id="send-comment")
                    question = gr.Textbox(show_label=False, elem_id="question", lines=1,
                                          placeholder="Ask a question and press Enter",
                                          submit_btn="Ask", autofocus=True)
                    with gr.Accordion("Filters", open=False):
                        filter_sources = gr.Dropdown(label="Only these documents", multiselect=True,
                                                     choices=[], elem_id="filter-sources")
                        with gr.Row():
                            date_from = gr.Textbox(label="From date", placeholder="YYYY[-MM[-DD]]",
                                                   elem_id="date-from")
                            date_to = gr.Textbox(label="To date", placeholder="YYYY[-MM[-DD]]",
                                                 elem_id="date-to")
                    gr.Examples(examples=[[q] for q in EXAMPLES], inputs=[question],
                                label="Example questions")
                    clear = gr.Button("New conversation", variant="secondary", size="sm", elem_id="new-conversation")
                    with gr.Accordion("Saved conversations", open=False):
                        saved = gr.Dropdown(label="Go back to", choices=[], elem_id="conversations")
                        with gr.Row():
                            title = gr.Textbox(label="Title", elem_id="conversation-title", scale=3)
                            rename = gr.Button("Rename", size="sm", elem_id="rename-conversation", scale=1)
                            delete = gr.Button("Delete", variant="stop", size="sm",
                                               elem_id="delete-conversation", scale=1)
                with gr.Column(scale=2, min_width=300):
                    gr.Markdown("### Sources")
                    sources = gr.HTML(EMPTY_HTML, elem_id="sources-panel")
        with gr.Tab("Documents", id="documents"):
            gr.Markdown(f"Add files ({', '.join(SUPPORTED_SUFFIXES)}, up to {MAX_UPLOAD_MB} MB "
                        "each): drop them below, then press **Add to the index**.")
            files = gr.File(file_count="multiple", label="Files to add", elem_id="upload")
            add = gr.Button("Add to the index", variant="primary", elem_id="add-files")
            with gr.Row(visible=bool(rag.settings.url_allow)):  # the server fetches: only allowed hosts
                page_url = gr.Textbox(label="Web page to add", placeholder="https://…", elem_id="page-url",
                                      scale=4)
                add_page = gr.Button("Add the page", elem_id="add-page", scale=1)
            status = gr.Markdown(elem_id="ingest-status")
            table = gr.Dataframe(headers=["Title", "Date", "Chunks", "File", "Path"],
                                 datatype=["str", "str", "number", "str", "str"],
                                 interactive=False, label="Indexed documents", elem_id="documents",
                                 wrap=True)
            with gr.Row():
                to_remove = gr.Dropdown(label="Document to remove", choices=[], elem_id="to-remove",
                                        scale=4)
                remove = gr.Button("Remove", variant="stop", elem_id="remove", scale=1)
                refresh = gr.Button("Refresh list", scale=1)

        chat_outputs = [chatbot, answers, sources, question, conversation, saved]
        chat_inputs = [question, chatbot, answers, filter_sources, date_from, date_to, collection, conversation]
        question.submit(respond, chat_inputs, chat_outputs, api_visibility="private",
                        show_progress="hidden")
        chatbot.select(on_select, [answers], [sources], api_visibility="private")
        chatbot.like(on_rate, [answers, conversation], [rated, comment_row], api_visibility="private")
        send_comment.click(on_comment, [rated, comment], [comment], api_visibility="private")
        for emptied in (clear.click, chatbot.clear):  # the button and the chat's own bin: a new conversation
            emptied(lambda: (new_chat(), {}, EMPTY_HTML, None, gr.Dropdown(value=None)), None,
                    [chatbot, answers, sources, conversation, saved], api_visibility="private")
        saved.input(on_pick, [saved], [chatbot, answers, sources, conversation, collection, table,
                                       to_remove, filter_sources], api_visibility="private")
        rename.click(on_rename, [conversation, title], [saved], api_visibility="private")
        delete.click(on_delete, [conversation], [chatbot, answers, sources, conversation, saved],
                     api_visibility="private")
        doc_outputs = [table, to_remove, filter_sources]
        add.click(on_upload, [files, filter_sources, collection], [status, *doc_outputs, files],
                  api_visibility="private")
        for added in (add_page.click, page_url.submit):
            added(on_add_page, [page_url, filter_sources, collection], [status, *doc_outputs, page_url],
                  api_visibility="private")
        remove.click(on_remove, [to_remove, filter_sources, collection], [status, *doc_outputs],
                     api_visibility="private")
        refresh.click(on_refresh, [filter_sources, collection], doc_outputs, api_visibility="private")
        collection.input(on_collection, [collection],
                         [chatbot, answers, sources, conversation, saved, *doc_outputs], api_visibility="private")
        app.load(on_load, [filter_sources, collection],
                 [collection, chatbot, answers, sources, conversation, saved, *doc_outputs],
                 api_visibility="private")

        add_api_endpoints(chosen, ingest_files)
    return app


def _esc(value) -> str:
    import html

    return html.escape(str(value))


def launch(rag: RAG, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
           auth=None, **launch_kwargs):
    """Build the app and serve it (blocks unless ``prevent_thread_lock=True``). ``auth``:
    ``"user:password"``, ``"@file"``, (user, password) pairs, or None for ``RAG_UI_AUTH`` (unset:
    no login). Returns the running ``gr.Blocks`` (``.local_url``, ``.close()``)."""
    credentials = resolve_auth(auth)
    app = build_app(rag)
    app.queue(default_concurrency_limit=2)
    app.launch(server_name=host, server_port=port, share=share, auth=credentials, theme=theme(),
               css=CSS, footer_links=["api"], **launch_kwargs)
    return app


def theme() -> gr.themes.Base:
    """The default theme with system fonts: its own would fetch web fonts, and this app is meant
    to run offline."""
    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                             font_mono=["ui-monospace", "monospace"])
