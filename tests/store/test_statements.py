"""The store's statements, written once for both backends: each rule holds on SQLite and on PostgreSQL alike.

These tests drive the store (``open_store`` and its transactions) directly:
what the dialect spells differently (lists of values, bounds, the order of
names, which unique index refused a row) must give the same answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kaizen_tui.core.errors import NameTaken, TokenExists
from kaizen_tui.core.ids import new_agent_id, new_version_id
from kaizen_tui.core.names import name_key
from kaizen_tui.core.schema import content_hash, snapshot_json, validate_new_agent
from kaizen_tui.store import Store, open_store

NOW = "2026-01-01T00:00:00Z"
HUGE = 2**70


@pytest.fixture
def store(db_path: Path | str) -> Iterator[Store]:
    opened = open_store(str(db_path))
    yield opened
    opened.close()


def new_agent(name: str, **fields: Any) -> dict[str, Any]:
    """An agent row as the service writes it."""
    config = validate_new_agent({"name": name, "model_id": "m", **fields})
    return {
        "id": new_agent_id(),
        **config,
        "created_by": "tester",
        "created_at": NOW,
        "updated_at": NOW,
        "revision": 1,
        "content_hash": content_hash(config),
        "name_key": name_key(name),
        "last_version_number": 0,
    }


def new_version(agent: dict[str, Any], number: int) -> dict[str, Any]:
    return {
        "id": new_version_id(),
        "agent_id": agent["id"],
        "version_number": number,
        "config_snapshot": snapshot_json(agent),
        "changelog": None,
        "created_by": "tester",
        "created_at": NOW,
        "content_hash": agent["content_hash"],
    }


def with_versions(store: Store, count: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    agent = new_agent("Versioned")
    versions = [new_version(agent, number) for number in range(1, count + 1)]
    with store.writing() as tx:
        tx.insert_agent(agent)
        assert tx.insert_versions(versions) == count
        tx.raise_version_counter(agent["id"], count)
    return agent, versions


@pytest.mark.parametrize("key", ["a\x00b", "lone \ud800 surrogate"])
def test_a_key_no_database_can_hold_finds_nothing(store: Store, key: str) -> None:
    """Text with NUL or a lone surrogate names nothing stored: no lookup fails, none finds anything."""
    agent, _ = with_versions(store, 1)
    with store.reading() as tx:
        assert tx.agent(key) is None
        assert not tx.agent_exists(key)
        assert tx.agents_by_name_key(key) == []
        assert tx.agents_by_exact_name(key) == []
        assert tx.described_agents([key]) == []
        assert tx.agents_to_export([key]) == []
        assert tx.version(key) is None
        assert tx.version_numbered(key, 1) is None
        assert tx.version_page(key, 10, 0) == []
        assert tx.versions_by_id([key]) == []
        assert tx.versions_with_numbers(key, [1]) == []
        assert tx.audit_log(key, 10) == []
        assert tx.token_by_hash(key) is None
        assert [row["id"] for row in tx.described_agents([key, agent["id"]])] == [agent["id"]]
    with store.writing() as tx:
        assert tx.delete_token(key) is False


def test_lists_of_ids_longer_than_one_statement_takes_are_read_whole(store: Store) -> None:
    """SQLite lists at most 500 values a statement, PostgreSQL one array: either way every row comes back once."""
    agent, versions = with_versions(store, 1201)
    others = [new_agent(f"agent {number:04}") for number in range(1201)]
    with store.writing() as tx:
        tx.insert_agents(others)
    ids = [other["id"] for other in others]
    with store.reading() as tx:
        version_ids = [version["id"] for version in versions]
        found = tx.versions_by_id([*version_ids, "ver-missing", *version_ids[:3]])
        assert sorted(row["id"] for row in found) == sorted(version_ids)
        numbered = tx.versions_with_numbers(agent["id"], [-1, *range(1, 1301), HUGE])
        assert sorted(row["version_number"] for row in numbered) == list(range(1, 1202))
        described = tx.described_agents([*ids, *ids])
        assert sorted(row["id"] for row in described) == sorted(ids)
        assert {row["version_count"] for row in described} == {0}
        assert sorted(row["id"] for row in tx.agents_to_export(ids)) == sorted(ids)


def test_a_bound_past_the_columns_integers_means_all_of_them(store: Store) -> None:
    agent, _ = with_versions(store, 3)
    with store.reading() as tx:
        assert [row["version_number"] for row in tx.versions_before(agent["id"], HUGE)] == [3, 2, 1]
        assert [row["version_number"] for row in tx.version_page(agent["id"], None, 0)] == [3, 2, 1]
        assert tx.version_numbered(agent["id"], HUGE) is None
        assert tx.version_numbered(agent["id"], -1) is None
        assert tx.audit_log(None, HUGE, before=HUGE) == []
    with store.writing() as tx:
        tx.insert_audit(
            {"at": NOW, "actor": "tester", "action": "x", "agent_id": agent["id"], "version_id": None, "detail": "{}"}
        )
        assert len(tx.audit_log(agent["id"], HUGE, before=HUGE)) == 1
        assert tx.delete_versions(agent["id"], HUGE, HUGE) == (3, 1, 3)


def test_agents_are_listed_by_name_ignoring_ascii_case_then_byte_wise(store: Store) -> None:
    """The order is the same on both backends whatever PostgreSQL's locale: Python's, on ASCII-lowered names."""
    names = ["beta", "Alpha", "alpha2", "Ärger", "äpfel", "_under", "Zulu", "10x", "a b", "a-b"]
    with store.writing() as tx:
        tx.insert_agents([new_agent(name) for name in names])
    with store.reading() as tx:
        listed = [row["name"] for row in tx.described_agents()]
    ascii_lower = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
    assert listed == sorted(names, key=lambda name: name.translate(ascii_lower))


def test_tokens_are_listed_by_name_byte_wise(store: Store) -> None:
    names = ["b", "B", "a", "_", "Ä", "ä"]
    with store.writing() as tx:
        for number, name in enumerate(names):
            tx.insert_token(
                {"name": name, "role": "read", "secret_hash": f"hash{number}", "created_by": "t", "created_at": NOW}
            )
    with store.reading() as tx:
        assert [row["name"] for row in tx.tokens()] == sorted(names)


def test_a_taken_name_or_token_name_is_refused_as_such(store: Store) -> None:
    first, second = new_agent("Twin"), new_agent("Other")
    with store.writing() as tx:
        tx.insert_agent(first)
        tx.insert_agent(second)
        tx.insert_token({"name": "ci", "role": "read", "secret_hash": "h1", "created_by": "t", "created_at": NOW})
    with pytest.raises(NameTaken), store.writing() as tx:
        tx.insert_agent(new_agent("TWIN"))
    with pytest.raises(NameTaken), store.writing() as tx:
        tx.update_agent(second["id"], {"name": "twin", "name_key": name_key("twin")})
    with pytest.raises(TokenExists), store.writing() as tx:
        tx.insert_token({"name": "ci", "role": "admin", "secret_hash": "h2", "created_by": "t", "created_at": NOW})
    with store.reading() as tx:
        assert [row["name"] for row in tx.described_agents()] == ["Other", "Twin"]
        assert [row["role"] for row in tx.tokens()] == ["read"]


def test_an_import_batch_skips_the_versions_the_database_has(store: Store) -> None:
    agent, versions = with_versions(store, 2)
    third = new_version(agent, 3)
    with store.writing() as tx:
        assert tx.insert_versions([versions[1], third]) == 1
        assert tx.raise_version_counter(agent["id"], 5) is True
        assert tx.raise_version_counter(agent["id"], 4) is False
        assert tx.next_version_number(agent["id"]) == 6
    with store.reading() as tx:
        stored = [row["id"] for row in tx.versions_after(agent["id"], 0, 10)]
        assert stored == [versions[0]["id"], versions[1]["id"], third["id"]]
        assert tx.version_summary(agent["id"], agent["content_hash"]) == (3, 3, True, 0)


def test_both_backends_migrate_to_the_one_schema_version() -> None:
    from kaizen_tui.store import postgres_migrations, sqlite_migrations
    from kaizen_tui.store.ddl import SCHEMA_VERSION

    assert max(sqlite_migrations.MIGRATIONS) == max(postgres_migrations.MIGRATIONS) == SCHEMA_VERSION
