"""Who may use which collection: the access file's rules, read again when it changes, and
``RAG.collection(name, user=...)`` / ``RAG.collection_names(user)`` enforcing them over a real
data dir."""

from __future__ import annotations

import shutil

import pytest

from rag.access import Access, AccessFileError, NotGrantedError, parse
from rag.errors import UsageError
from tests.conftest import EVAL

RULES = """
[groups]
port = ["ana", "carol"]

[collections.harbours]
users = ["dan"]
groups = ["port"]

[collections.public]
users = ["*"]
"""


def test_a_collection_named_in_the_file_is_open_only_to_its_users_and_groups():
    rules = parse(RULES, "access.toml")
    assert [u for u in ("ana", "carol", "dan", "bob", "local") if rules.allows(u, "harbours")] == ["ana", "carol", "dan"]
    assert all(rules.allows(u, "public") and rules.allows(u, "default") for u in ("bob", "local"))


@pytest.mark.parametrize("text, message", [
    ("[collections.harbours]\nusers = 'ana'\n", "access.toml: collections.harbours.users: expected a list of names"),
    ("[collections.harbours]\ngroups = ['crew']\n", "collections.harbours.groups: no group 'crew' in [groups]"),
    ("[collections.harbours]\nreaders = ['ana']\n", "collections.harbours: expected only 'users' and 'groups'"),
    ("[collections.'../up']\nusers = ['ana']\n", "collections.../up: '../up' is not a valid collection name"),
    ("[grants]\n", "unknown table(s) ['grants']"),
    ("[groups]\nport = [1]\n", "groups.port: expected a list of names"),
    ("[collections.harbours\n", "access.toml: not valid TOML"),
])
def test_a_malformed_access_file_names_the_field_and_why(text, message):
    with pytest.raises(UsageError) as err:
        parse(text, "access.toml")
    assert message in str(err.value)


def test_the_file_is_read_again_when_it_changes_and_a_broken_one_closes_everything(tmp_path):
    path = tmp_path / "access.toml"
    access = Access(path)
    access.check("bob", "harbours")  # no file: everything open
    path.write_text(RULES, encoding="utf-8")
    with pytest.raises(NotGrantedError, match="'harbours' is not open to the user 'bob'"):
        access.check("bob", "harbours")
    assert access.visible("bob", ["default", "harbours", "public"]) == ["default", "public"]
    path.write_text(RULES.replace('"dan"', '"dan", "bob"'), encoding="utf-8")
    access.check("bob", "harbours")
    path.write_text("[collections.harbours\n", encoding="utf-8")
    for _ in range(2):  # closed while it stays broken, not only on the read that found it
        with pytest.raises(AccessFileError, match="not valid TOML.*no collection is open until it is fixed"):
            access.check("bob", "default")
    path.unlink()
    access.check("bob", "harbours")


def test_rag_gives_a_user_only_the_collections_open_to_them(make_rag, tmp_path):
    rag = make_rag()
    shutil.copytree(EVAL / "harbours-en" / "docs", tmp_path / "harbours")
    rag.create_collection("harbours")
    assert rag.collection("harbours").ingest([tmp_path / "harbours"]).added
    (rag.settings.data_dir / "access.toml").write_text(RULES, encoding="utf-8")

    assert rag.collection_names("bob") == ["default"] and rag.collection_names("ana") == ["default", "harbours"]
    assert [c.name for c in rag.collections("bob")] == ["default"]
    assert rag.collection_names() == ["default", "harbours"]  # the owner (CLI, Python) sees all
    with pytest.raises(NotGrantedError):
        rag.collection("harbours", "bob")
    assert rag.collection("harbours", "ana").ask("Who built the stone pier of Port Ellery?").citations

    conversation = rag.conversations.create("bob", "harbours")
    with pytest.raises(NotGrantedError):
        rag.converse(conversation.id, "Who built the stone pier of Port Ellery?", user="bob")
    assert rag.conversations.get("bob", conversation.id).turns == []  # nothing saved


def test_the_access_file_setting_points_elsewhere(make_rag, tmp_path):
    elsewhere = tmp_path / "team-access.toml"
    elsewhere.write_text('[collections.default]\nusers = ["ana"]\n', encoding="utf-8")
    rag = make_rag(access_file=elsewhere)
    assert rag.collection_names("ana") == ["default"] and rag.collection_names("bob") == []
