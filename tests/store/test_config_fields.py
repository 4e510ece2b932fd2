"""The config fields are defined once (``core.schema.FIELDS``): the table, the columns and the stored rows follow it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_origin

import pytest

from kaizen_tui.core.ids import new_agent_id
from kaizen_tui.core.names import name_key
from kaizen_tui.core.schema import DEFAULTS, FIELD_NAMES, FIELDS, content_hash
from kaizen_tui.store import Store, open_store
from kaizen_tui.store.base import AGENT_COLUMNS, SETTABLE_AGENT_COLUMNS

#: The agent's columns that are not config: ids, authorship, times and the store's own bookkeeping.
BOOKKEEPING = {
    "id", "created_by", "created_at", "updated_at", "last_version_number", "revision", "name_key", "content_hash",
}  # fmt: skip
#: A value of every field that is not its default (a new field needs one here: the test says so).
NOT_DEFAULT: dict[str, Any] = {
    "name": "Every field",
    "description": "set",
    "agent_type": "pipeline",
    "status": "active",
    "system_prompt": "Be brief.\nBe kind.",
    "model_id": "model-2",
    "temperature": 1.25,
    "max_tokens": 77,
    "extra": {"tools": ["search"], "top_p": 0.5},
}


def test_the_agent_table_declares_each_field_as_defined() -> None:
    """``models.Agent`` is written out for SQLModel: its columns must agree with the definition."""
    from kaizen_tui.store.models import Agent

    declared = Agent.model_fields
    columns = {column.name: column for column in Agent.__table__.columns}  # type: ignore[attr-defined]
    assert [name for name in declared if name not in BOOKKEEPING] == list(FIELD_NAMES)
    for field in FIELDS:
        model_field = declared[field.name]
        assert (get_origin(model_field.annotation) or model_field.annotation) is field.type, field.name
        assert model_field.is_required() == field.required, field.name
        if not field.required:
            factory = model_field.default_factory
            default = factory() if factory is not None else model_field.default  # type: ignore[call-arg]
            assert default == field.default, field.name
        assert not columns[field.name].nullable, field.name


def test_the_store_columns_follow_the_definition() -> None:
    assert [name for name in AGENT_COLUMNS if name not in BOOKKEEPING] == list(FIELD_NAMES)
    assert set(FIELD_NAMES) <= SETTABLE_AGENT_COLUMNS
    assert set(DEFAULTS) == {field.name for field in FIELDS if not field.required}


@pytest.fixture
def store(db_path: Path | str) -> Iterator[Store]:
    opened = open_store(str(db_path))
    yield opened
    opened.close()


def test_every_field_is_stored_and_read_back(store: Store) -> None:
    assert set(NOT_DEFAULT) == set(FIELD_NAMES), "give the new field a value here"
    assert all(NOT_DEFAULT[name] != DEFAULTS.get(name) for name in FIELD_NAMES)
    agent = {
        "id": new_agent_id(),
        **NOT_DEFAULT,
        "created_by": "tester",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "revision": 1,
        "content_hash": content_hash(NOT_DEFAULT),
        "name_key": name_key(NOT_DEFAULT["name"]),
    }
    with store.writing() as tx:
        tx.insert_agent(agent)
    with store.reading() as tx:
        stored = tx.agent(agent["id"])
    assert stored is not None
    assert {name: stored[name] for name in FIELD_NAMES} == NOT_DEFAULT
    changed = {"description": "changed", "temperature": 0.0, "extra": {}}
    with store.writing() as tx:
        tx.update_agent(agent["id"], changed)
    with store.reading() as tx:
        stored = tx.agent(agent["id"])
    assert stored is not None
    assert {name: stored[name] for name in FIELD_NAMES} == {**NOT_DEFAULT, **changed}
