"""Login settings and the `rag ui` command."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from rag.cli import _parser, main
from ui.auth import parse_auth, resolve_auth

from .conftest import free_port


def test_parse_auth_forms(tmp_path):
    assert parse_auth(None) is None and parse_auth("  ") is None
    assert parse_auth("alice:s3cr:et") == [("alice", "s3cr:et")]
    f = tmp_path / "users"
    f.write_text("# team\nalice:one\n\nbob:two\n", encoding="utf-8")
    assert parse_auth(f"@{f}") == [("alice", "one"), ("bob", "two")]


@pytest.mark.parametrize("spec", ["alice", ":pw", "alice:", "@/nonexistent/users"])
def test_parse_auth_rejects_malformed(spec):
    with pytest.raises(ValueError):
        parse_auth(spec)


def test_auth_from_environment(monkeypatch):
    monkeypatch.setenv("RAG_UI_AUTH", "carol:pw")
    assert resolve_auth(None) == [("carol", "pw")]
    assert resolve_auth("dave:pw2") == [("dave", "pw2")]  # the argument wins
    monkeypatch.delenv("RAG_UI_AUTH")
    assert resolve_auth(None) is None


def test_ui_command_options():
    args = _parser().parse_args(["ui"])
    assert (args.host, args.port, args.share, args.auth) == ("127.0.0.1", 7860, False, None)
    args = _parser().parse_args(["ui", "--host", "0.0.0.0", "--port", "8000", "--share",
                                 "--auth", "@users.txt"])
    assert (args.host, args.port, args.share, args.auth) == ("0.0.0.0", 8000, True, "@users.txt")


def test_ui_command_bad_auth_is_a_clear_error(tmp_path, capsys):
    assert main(["--data-dir", str(tmp_path / "d"), "ui", "--auth", "nopassword"]) == 2
    err = capsys.readouterr().err
    assert "expected user:password" in err and "Traceback" not in err


def test_login_required_when_auth_is_set(tmp_path, real_embedder):
    from gradio_client import Client

    from rag import RAG
    from ui.app import launch

    rag = RAG(data_dir=tmp_path / "data", embedder=real_embedder)
    app = launch(rag, port=free_port(), auth="alice:wonder", prevent_thread_lock=True, quiet=True)
    try:
        assert app.local_url.startswith("http://127.0.0.1:")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(app.local_url + "config", timeout=10)
        assert err.value.code == 401
        with pytest.raises(Exception):
            Client(app.local_url, auth=("alice", "wrong"), verbose=False)
        client = Client(app.local_url, auth=("alice", "wonder"), verbose=False)
        assert client.predict(api_name="/sources") == []
    finally:
        app.close()
        rag.close()
