"""Labels over HTTP: list, set and move (compare-and-swap), remove, the ledger, protected names, /config of a label.

Every write goes through the write token (ci-bot) unless a test says
otherwise; a protected label moves only with the admin token (boss).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kaizen_tui.service import AgentService
from tests.api.conftest import JSON_TYPE, TOKEN_NAMES, Tokens, assert_problem, nothing_written
from tests.support import Clock, write_raw_snapshot

LABEL_KEYS = {"label", "version_number", "version_id", "updated_by", "updated_at", "protected"}
ENTRY_KEYS = {
    "id",
    "at",
    "actor",
    "label",
    "action",
    "from_version",
    "from_version_id",
    "to_version",
    "to_version_id",
    "reason",
}
HOSTILE_REASON = "[bold]loud[/bold] \x1b[31mred\x1b[0m"


@pytest.fixture
def bot(writer: TestClient, service: AgentService) -> dict[str, Any]:
    """Bot with v1, v2, v3 (temperature 0.1, 0.2, 0.3; the live config is v3), written at 2026-11-01T01:00Z, +1 h each."""
    service.clock = Clock()
    created = writer.post("/api/v1/agents", json={"name": "Bot", "model_id": "m", "temperature": 0.1})
    assert created.status_code == 201, created.text
    agent = created.json()
    versions = []
    for temperature in (0.1, 0.2, 0.3):
        if temperature != 0.1:
            assert writer.patch(f"/api/v1/agents/{agent['id']}", json={"temperature": temperature}).status_code == 200
        made = writer.post(f"/api/v1/agents/{agent['id']}/versions", json={"changelog": f"t={temperature}"})
        assert made.status_code == 201, made.text
        versions.append(made.json())
    return {**agent, "versions": versions, "base": f"/api/v1/agents/{agent['id']}"}


def put_label(client: TestClient, bot: dict[str, Any], label: str, body: dict[str, Any], **kwargs: Any) -> Any:
    return client.put(f"{bot['base']}/labels/{label}", json=body, **kwargs)


def labels_of(client: TestClient, bot: dict[str, Any], **kwargs: Any) -> dict[str, int]:
    response = client.get(f"{bot['base']}/labels", **kwargs)
    assert response.status_code == 200, response.text
    return {row["label"]: row["version_number"] for row in response.json()}


# -- list, set, move ------------------------------------------------------------------------


def test_an_agent_without_labels_lists_none(writer: TestClient, bot: dict[str, Any]) -> None:
    response = writer.get(f"{bot['base']}/labels")
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON_TYPE
    assert response.json() == []


def test_put_creates_a_label_then_moves_it(writer: TestClient, bot: dict[str, Any]) -> None:
    v1, _, v3 = bot["versions"]
    created = put_label(writer, bot, "production", {"version": 1, "reason": "launch"})
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["agent_id"] == bot["id"]
    assert (body["label"], body["version_number"], body["version_id"]) == ("production", 1, v1["id"])
    assert (body["from_version_number"], body["moved"], body["protected"]) == (None, True, False)
    assert body["updated_by"] == TOKEN_NAMES["write"]

    moved = put_label(writer, bot, "production", {"version": "v3", "expected_version": 1}).json()
    assert (moved["version_number"], moved["version_id"], moved["from_version_number"]) == (3, v3["id"], 1)

    listed = writer.get(f"{bot['base']}/labels").json()
    assert len(listed) == 1 and set(listed[0]) == LABEL_KEYS
    assert (listed[0]["label"], listed[0]["version_number"], listed[0]["version_id"]) == ("production", 3, v3["id"])


def test_a_version_by_id_and_an_agent_by_name(writer: TestClient, bot: dict[str, Any]) -> None:
    v2 = bot["versions"][1]
    response = writer.put("/api/v1/agents/Bot/labels/staging", json={"version": v2["id"]})
    assert response.status_code == 200, response.text
    assert labels_of(writer, bot) == {"staging": 2}


def test_setting_a_label_where_it_points_moves_nothing(
    writer: TestClient, service: AgentService, bot: dict[str, Any]
) -> None:
    put_label(writer, bot, "production", {"version": 2})
    with nothing_written(service):
        again = put_label(writer, bot, "production", {"version": 2, "expected_version": 2})
    assert again.status_code == 200
    assert (again.json()["moved"], again.json()["from_version_number"]) == (False, 2)


# -- compare-and-swap -------------------------------------------------------------------------


def test_a_stale_expected_version_is_409_naming_where_the_label_points(
    writer: TestClient, service: AgentService, bot: dict[str, Any]
) -> None:
    put_label(writer, bot, "production", {"version": 1})
    with nothing_written(service):
        refused = put_label(writer, bot, "production", {"version": 3, "expected_version": 2})
    problem = assert_problem(refused, 409, "label_conflict")
    assert problem["current_version"] == 1
    assert "points at v1" in problem["detail"] and "Nothing moved" in problem["detail"]
    assert labels_of(writer, bot) == {"production": 1}
    assert len(writer.get(f"{bot['base']}/labels/history").json()) == 1


def test_expected_version_null_means_the_label_must_not_exist_yet(writer: TestClient, bot: dict[str, Any]) -> None:
    first = put_label(writer, bot, "canary", {"version": 2, "expected_version": None})
    assert first.status_code == 200, first.text
    second = put_label(writer, bot, "canary", {"version": 3, "expected_version": None})
    assert assert_problem(second, 409, "label_conflict")["current_version"] == 2
    assert labels_of(writer, bot) == {"canary": 2}


def test_an_expected_version_of_a_label_not_set_is_409_with_current_version_null(
    writer: TestClient, bot: dict[str, Any]
) -> None:
    problem = assert_problem(
        put_label(writer, bot, "canary", {"version": 2, "expected_version": 1}), 409, "label_conflict"
    )
    assert problem["current_version"] is None
    assert "is not set" in problem["detail"]
    assert labels_of(writer, bot) == {}


def test_without_expected_version_the_move_is_unchecked(writer: TestClient, bot: dict[str, Any]) -> None:
    put_label(writer, bot, "production", {"version": 1})
    assert put_label(writer, bot, "production", {"version": 3}).status_code == 200
    assert labels_of(writer, bot) == {"production": 3}


# -- remove -----------------------------------------------------------------------------------


def test_delete_removes_a_label_and_the_ledger_keeps_it(writer: TestClient, bot: dict[str, Any]) -> None:
    put_label(writer, bot, "canary", {"version": 2})
    response = writer.delete(f"{bot['base']}/labels/canary", params={"reason": "canary over"})
    assert response.status_code == 200, response.text
    assert response.json() == {"label": "canary", "agent_id": bot["id"], "from_version_number": 2}
    assert labels_of(writer, bot) == {}
    newest = writer.get(f"{bot['base']}/labels/history").json()[0]
    assert (newest["action"], newest["from_version"], newest["to_version"], newest["reason"]) == (
        "remove",
        2,
        None,
        "canary over",
    )


def test_delete_with_a_stale_expected_version_is_409_and_keeps_the_label(
    writer: TestClient, service: AgentService, bot: dict[str, Any]
) -> None:
    put_label(writer, bot, "canary", {"version": 2})
    with nothing_written(service):
        refused = writer.delete(f"{bot['base']}/labels/canary", params={"expected_version": 1})
    assert assert_problem(refused, 409, "label_conflict")["current_version"] == 2
    assert writer.delete(f"{bot['base']}/labels/canary", params={"expected_version": 2}).status_code == 200
    assert labels_of(writer, bot) == {}


def test_deleting_a_label_that_is_not_set_is_404(writer: TestClient, bot: dict[str, Any]) -> None:
    problem = assert_problem(writer.delete(f"{bot['base']}/labels/canary"), 404, "label_not_found")
    assert "canary" in problem["detail"]


# -- protected labels -------------------------------------------------------------------------


def test_a_protected_label_moves_only_with_an_admin_token(
    client: TestClient, tokens: Tokens, service: AgentService, bot: dict[str, Any]
) -> None:
    assert put_label(client, bot, "production", {"version": 1}, headers=tokens.header("write")).status_code == 200
    refused = client.put("/api/v1/labels/protected/production", headers=tokens.header("write"))
    assert_problem(refused, 403, "forbidden")
    protected = client.put("/api/v1/labels/protected/production", headers=tokens.header("admin"))
    assert protected.status_code == 200
    assert protected.json() == {"label": "production", "protected": True, "changed": True}

    with nothing_written(service):
        moved_by_writer = put_label(client, bot, "production", {"version": 3}, headers=tokens.header("write"))
        removed_by_writer = client.delete(f"{bot['base']}/labels/production", headers=tokens.header("write"))
    assert assert_problem(moved_by_writer, 403, "protected_label")["label"] == "production"
    assert_problem(removed_by_writer, 403, "protected_label")
    assert labels_of(client, bot, headers=tokens.header("read")) == {"production": 1}

    by_admin = put_label(client, bot, "production", {"version": 3}, headers=tokens.header("admin"))
    assert by_admin.status_code == 200
    assert (by_admin.json()["version_number"], by_admin.json()["protected"]) == (3, True)
    assert by_admin.json()["updated_by"] == TOKEN_NAMES["admin"]
    assert client.delete(f"{bot['base']}/labels/production", headers=tokens.header("admin")).status_code == 200


def test_the_protected_names_are_listed_for_any_reader_and_unprotected_by_an_admin(
    client: TestClient, tokens: Tokens, bot: dict[str, Any]
) -> None:
    assert client.get("/api/v1/labels/protected", headers=tokens.header("read")).json() == []
    client.put("/api/v1/labels/protected/production", headers=tokens.header("admin"))
    again = client.put("/api/v1/labels/protected/production", headers=tokens.header("admin"))
    assert again.json()["changed"] is False
    listed = client.get("/api/v1/labels/protected", headers=tokens.header("read")).json()
    assert [(row["label"], row["protected_by"]) for row in listed] == [("production", TOKEN_NAMES["admin"])]
    assert_problem(
        client.delete("/api/v1/labels/protected/production", headers=tokens.header("write")), 403, "forbidden"
    )
    removed = client.delete("/api/v1/labels/protected/production", headers=tokens.header("admin"))
    assert removed.json() == {"label": "production", "protected": False, "changed": True}
    moved = put_label(client, bot, "production", {"version": 2}, headers=tokens.header("write"))
    assert moved.status_code == 200


def test_a_read_token_cannot_change_labels(
    client: TestClient, tokens: Tokens, service: AgentService, bot: dict[str, Any]
) -> None:
    put_label(client, bot, "canary", {"version": 1}, headers=tokens.header("write"))
    read = tokens.header("read")
    with nothing_written(service):
        assert_problem(put_label(client, bot, "canary", {"version": 2}, headers=read), 403, "forbidden")
        assert_problem(client.delete(f"{bot['base']}/labels/canary", headers=read), 403, "forbidden")
        assert_problem(client.put("/api/v1/labels/protected/canary", headers=read), 403, "forbidden")
    assert client.get(f"{bot['base']}/labels", headers=read).status_code == 200
    assert client.get(f"{bot['base']}/labels/history", headers=read).status_code == 200


def test_without_a_token_every_label_endpoint_is_401(client: TestClient, bot: dict[str, Any]) -> None:
    base = bot["base"]
    for method, path in [
        ("GET", f"{base}/labels"),
        ("GET", f"{base}/labels/history"),
        ("PUT", f"{base}/labels/production"),
        ("DELETE", f"{base}/labels/production"),
        ("GET", "/api/v1/labels/protected"),
        ("PUT", "/api/v1/labels/protected/production"),
        ("DELETE", "/api/v1/labels/protected/production"),
        ("GET", f"{base}/config?label=latest"),
    ]:
        assert_problem(client.request(method, path, headers={"Authorization": ""}), 401, "unauthorized")


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("label", ["Production", "latest", "12", "prod%20uction", "a" * 64, "pr%C3%B6d"])
def test_a_bad_label_name_is_422_naming_the_label(
    writer: TestClient, service: AgentService, bot: dict[str, Any], label: str
) -> None:
    with nothing_written(service):
        problem = assert_problem(put_label(writer, bot, label, {"version": 1}), 422, "invalid_value")
    assert problem["field"] == "label"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "version"),
        ({"version": True}, "version"),
        ({"version": [1]}, "version"),
        ({"version": 1, "expected_version": "v1"}, "expected_version"),
        ({"version": 1, "expected_version": True}, "expected_version"),
        ({"version": 1, "expected_version": -1}, "expected_version"),
        ({"version": 1, "reason": 7}, "reason"),
        ({"version": 1, "expected": 1}, "expected"),
    ],
)
def test_a_bad_body_is_422_naming_the_field(
    writer: TestClient, service: AgentService, bot: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    with nothing_written(service):
        problem = assert_problem(put_label(writer, bot, "production", body), 422, "invalid_value")
    assert problem["field"] == field


def test_unknown_agents_versions_and_labels_are_404(writer: TestClient, bot: dict[str, Any]) -> None:
    assert_problem(writer.get("/api/v1/agents/Nobody/labels"), 404, "agent_not_found")
    assert_problem(writer.put("/api/v1/agents/Nobody/labels/production", json={"version": 1}), 404, "agent_not_found")
    assert_problem(writer.get("/api/v1/agents/Nobody/labels/history"), 404, "agent_not_found")
    assert_problem(put_label(writer, bot, "production", {"version": 9}), 404, "version_not_found")
    assert_problem(writer.get(f"{bot['base']}/config", params={"label": "canary"}), 404, "label_not_found")
    assert_problem(writer.get(f"{bot['base']}/config", params={"version": "9"}), 404, "version_not_found")
    assert_problem(writer.get("/api/v1/agents/Nobody/config", params={"label": "latest"}), 404, "agent_not_found")


def test_a_damaged_version_is_never_labelled(
    writer: TestClient, service: AgentService, db_path: Any, bot: dict[str, Any]
) -> None:
    write_raw_snapshot(db_path, bot["versions"][0]["id"])
    with nothing_written(service):
        assert_problem(put_label(writer, bot, "production", {"version": 1}), 409, "damaged_snapshot")


# -- the ledger -------------------------------------------------------------------------------


def test_the_ledger_is_newest_first_filters_by_label_and_pages(writer: TestClient, bot: dict[str, Any]) -> None:
    put_label(writer, bot, "production", {"version": 1, "reason": "launch"})
    put_label(writer, bot, "staging", {"version": 2})
    put_label(writer, bot, "production", {"version": 3, "reason": "better answers"})
    writer.delete(f"{bot['base']}/labels/staging")
    entries = writer.get(f"{bot['base']}/labels/history").json()
    assert all(set(entry) == ENTRY_KEYS for entry in entries)
    assert [(e["label"], e["action"], e["from_version"], e["to_version"]) for e in entries] == [
        ("staging", "remove", 2, None),
        ("production", "move", 1, 3),
        ("staging", "set", None, 2),
        ("production", "set", None, 1),
    ]
    assert entries[1]["actor"] == TOKEN_NAMES["write"] and entries[1]["reason"] == "better answers"
    assert entries[1]["to_version_id"] == bot["versions"][2]["id"]

    production = writer.get(f"{bot['base']}/labels/history", params={"label": "production"}).json()
    assert [e["to_version"] for e in production] == [3, 1]
    first_page = writer.get(f"{bot['base']}/labels/history", params={"limit": 2}).json()
    assert first_page == entries[:2]
    second_page = writer.get(f"{bot['base']}/labels/history", params={"limit": 2, "before": first_page[-1]["id"]})
    assert second_page.json() == entries[2:]


def test_the_ledger_rejects_bad_paging_and_label_names(writer: TestClient, bot: dict[str, Any]) -> None:
    for params, field in [({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"before": 0}, "before")]:
        problem = assert_problem(writer.get(f"{bot['base']}/labels/history", params=params), 422, "invalid_value")
        assert field in problem["field"]
    problem = assert_problem(
        writer.get(f"{bot['base']}/labels/history", params={"label": "Prod"}), 422, "invalid_value"
    )
    assert problem["field"] == "label"


def test_text_from_the_database_comes_back_exactly(writer: TestClient, bot: dict[str, Any]) -> None:
    put_label(writer, bot, "production", {"version": 1, "reason": HOSTILE_REASON})
    entry = writer.get(f"{bot['base']}/labels/history").json()[0]
    assert entry["reason"] == HOSTILE_REASON
    events = writer.get("/api/v1/audit", params={"agent_id": bot["id"], "limit": 1}).json()
    assert events[0]["action"] == "label.set"
    assert events[0]["detail"]["reason"] == HOSTILE_REASON


def test_every_change_of_a_label_is_audited_as_the_token(writer: TestClient, bot: dict[str, Any]) -> None:
    put_label(writer, bot, "production", {"version": 1})
    put_label(writer, bot, "production", {"version": 2})
    writer.delete(f"{bot['base']}/labels/production")
    events = writer.get("/api/v1/audit", params={"agent_id": bot["id"], "limit": 3}).json()
    assert [(e["action"], e["actor"]) for e in events] == [
        ("label.remove", TOKEN_NAMES["write"]),
        ("label.move", TOKEN_NAMES["write"]),
        ("label.set", TOKEN_NAMES["write"]),
    ]
    assert events[1]["detail"] == {"label": "production", "from_version": 1, "to_version": 2, "reason": ""}


# -- /config of a label or a version ------------------------------------------------------------


def test_config_of_a_label_is_that_versions_config_with_headers_naming_it(
    writer: TestClient, service: AgentService, bot: dict[str, Any]
) -> None:
    put_label(writer, bot, "production", {"version": 2})
    response = writer.get(f"{bot['base']}/config", params={"label": "production"})
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON_TYPE
    assert response.json() == json.loads(bot["versions"][1]["config_snapshot"])
    assert response.json()["temperature"] == 0.2
    assert response.headers["x-kaizen-version"] == "2"
    assert response.headers["x-kaizen-version-id"] == bot["versions"][1]["id"]
    assert response.headers["x-kaizen-label"] == "production"
    resolved = service.resolve_config(bot["id"], label="production")
    assert response.headers["etag"] == f'"{resolved["content_hash"]}"'


@pytest.mark.both_backends  # the ETag's cache follows each backend's change token
def test_config_of_a_label_answers_304_to_its_etag_until_the_label_moves(
    writer: TestClient, bot: dict[str, Any]
) -> None:
    put_label(writer, bot, "production", {"version": 1})
    url = f"{bot['base']}/config"
    first = writer.get(url, params={"label": "production"})
    etag = first.headers["etag"]
    unchanged = writer.get(url, params={"label": "production"}, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["etag"] == etag
    assert unchanged.headers["x-kaizen-version"] == "1" and unchanged.headers["x-kaizen-label"] == "production"
    put_label(writer, bot, "production", {"version": 3})
    moved = writer.get(url, params={"label": "production"}, headers={"If-None-Match": etag})
    assert moved.status_code == 200
    assert moved.json()["temperature"] == 0.3
    assert moved.headers["etag"] != etag and moved.headers["x-kaizen-version"] == "3"


def test_the_etag_is_the_content_hash_so_equal_configs_share_it(writer: TestClient, bot: dict[str, Any]) -> None:
    """v3 holds the live config: the same content, the same tag, whichever way it is asked for."""
    put_label(writer, bot, "production", {"version": 3})
    url = f"{bot['base']}/config"
    live = writer.get(url)
    labelled = writer.get(url, params={"label": "production"})
    assert labelled.headers["etag"] == live.headers["etag"]
    assert labelled.json() == live.json()


def test_config_of_latest_and_of_a_version(writer: TestClient, bot: dict[str, Any]) -> None:
    url = f"{bot['base']}/config"
    latest = writer.get(url, params={"label": "latest"})
    assert latest.status_code == 200
    assert latest.headers["x-kaizen-version"] == "3" and latest.headers["x-kaizen-label"] == "latest"
    assert latest.json() == json.loads(bot["versions"][2]["config_snapshot"])
    for ref in ("1", "v1", bot["versions"][0]["id"]):
        version = writer.get(url, params={"version": ref})
        assert version.status_code == 200, ref
        assert version.json()["temperature"] == 0.1
        assert version.headers["x-kaizen-version"] == "1"
        assert version.headers["x-kaizen-version-id"] == bot["versions"][0]["id"]
        assert "x-kaizen-label" not in version.headers


def test_the_live_config_keeps_its_headers_and_names_no_version(writer: TestClient, bot: dict[str, Any]) -> None:
    writer.patch(bot["base"], json={"temperature": 0.9})
    live = writer.get(f"{bot['base']}/config")
    assert live.status_code == 200
    assert live.json()["temperature"] == 0.9
    assert live.headers["x-kaizen-agent-revision"] == str(writer.get(bot["base"]).json()["revision"])
    for header in ("x-kaizen-version", "x-kaizen-version-id", "x-kaizen-label"):
        assert header not in live.headers


def test_config_at_a_time_asks_the_ledger(writer: TestClient, bot: dict[str, Any]) -> None:
    """The fixture's clock is an hour per write: the labels below are written at 07:00, 08:00 and 09:00."""
    put_label(writer, bot, "production", {"version": 1})
    put_label(writer, bot, "production", {"version": 3})
    writer.delete(f"{bot['base']}/labels/production")
    times = [entry["at"] for entry in writer.get(f"{bot['base']}/labels/history").json()][::-1]
    url = f"{bot['base']}/config"
    at_first = writer.get(url, params={"label": "production", "at": times[0]})
    assert at_first.headers["x-kaizen-version"] == "1"
    assert at_first.json()["temperature"] == 0.1
    between = times[1].replace(":00:00Z", ":30:00Z")
    assert writer.get(url, params={"label": "production", "at": between}).headers["x-kaizen-version"] == "3"
    before = assert_problem(writer.get(url, params={"label": "production", "at": "2026-01-01"}), 404, "label_not_found")
    assert "2026-01-01T00:00:00Z" in before["detail"]
    removed = assert_problem(writer.get(url, params={"label": "production", "at": times[2]}), 404, "label_not_found")
    assert "removed" in removed["detail"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"label": "production", "version": "1"}, "label"),
        ({"at": "2026-11-01"}, "at"),
        ({"label": "latest", "at": "2026-11-01"}, "at"),
        ({"label": "production", "at": "yesterday"}, "at"),
        ({"label": "Production"}, "label"),
        ({"label": ""}, "label"),
    ],
)
def test_config_with_contradicting_or_bad_parameters_is_422(
    writer: TestClient, bot: dict[str, Any], params: dict[str, str], field: str
) -> None:
    put_label(writer, bot, "production", {"version": 1})
    problem = assert_problem(writer.get(f"{bot['base']}/config", params=params), 422, "invalid_value")
    assert problem["field"] == field


def test_head_of_a_labelled_config_sends_its_headers_without_a_body(writer: TestClient, bot: dict[str, Any]) -> None:
    put_label(writer, bot, "production", {"version": 2})
    url = f"{bot['base']}/config?label=production"
    head = writer.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == writer.get(url).headers["etag"]
    assert head.headers["x-kaizen-version"] == "2"


def test_config_of_a_label_on_a_damaged_version_is_409_naming_it_even_to_its_old_etag(
    writer: TestClient, db_path: Any, bot: dict[str, Any]
) -> None:
    """What clients branch on: 409 ``damaged_snapshot`` with the version, never a 304 confirming a copy."""
    put_label(writer, bot, "production", {"version": 2})
    url = f"{bot['base']}/config"
    etag = writer.get(url, params={"label": "production"}).headers["etag"]
    v2 = bot["versions"][1]
    write_raw_snapshot(db_path, v2["id"])
    details = []
    for params in ({"label": "production"}, {"version": "2"}):
        answer = writer.get(url, params=params, headers={"If-None-Match": etag})
        problem = assert_problem(answer, 409, "damaged_snapshot")
        assert (problem["version_number"], problem["version_id"]) == (2, v2["id"])
        details.append(problem["detail"])
    assert details[0].startswith("The snapshot of v2 (label production) is damaged: not valid JSON")
    assert details[1].startswith("The snapshot of v2 is damaged: not valid JSON")


# -- retention ------------------------------------------------------------------------------------


def test_deleting_a_labelled_version_is_409_naming_its_labels(
    writer: TestClient, service: AgentService, bot: dict[str, Any]
) -> None:
    put_label(writer, bot, "production", {"version": 1})
    with nothing_written(service):
        problem = assert_problem(writer.delete(f"{bot['base']}/versions/1"), 409, "version_labelled")
    assert problem["labels"] == ["production"]
    assert "production" in problem["detail"]


def test_prune_keeps_labelled_versions_and_says_which(writer: TestClient, bot: dict[str, Any]) -> None:
    put_label(writer, bot, "production", {"version": 1})
    response = writer.post(f"{bot['base']}/versions/prune", json={"keep": 1})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["deleted"] == 1
    assert result["kept_labelled"] == [{"version_number": 1, "id": bot["versions"][0]["id"], "labels": ["production"]}]
    assert [v["version_number"] for v in writer.get(f"{bot['base']}/versions").json()] == [3, 1]


def test_a_stale_prune_plan_carries_the_labelled_versions_it_keeps(writer: TestClient, bot: dict[str, Any]) -> None:
    put_label(writer, bot, "staging", {"version": 2})
    refused = writer.post(f"{bot['base']}/versions/prune", json={"keep": 1, "plan_id": "stale"})
    fresh = assert_problem(refused, 409, "conflict")["fresh"]
    assert [entry["version_number"] for entry in fresh["delete"]] == [1]
    assert [(k["version_number"], k["labels"]) for k in fresh["kept_labelled"]] == [(2, ["staging"])]


def test_the_versions_list_says_which_labels_name_each_version(writer: TestClient, bot: dict[str, Any]) -> None:
    put_label(writer, bot, "production", {"version": 1})
    put_label(writer, bot, "staging", {"version": 1})
    put_label(writer, bot, "canary", {"version": 3})
    versions = writer.get(f"{bot['base']}/versions").json()
    assert [(v["version_number"], v["labels"]) for v in versions] == [
        (3, ["canary"]),
        (2, []),
        (1, ["production", "staging"]),
    ]
    assert {"id", "agent_id", "version_number", "config_snapshot", "changelog", "created_by", "created_at"} <= set(
        versions[0]
    ), "the spec's keys stay"


# -- a label is a version reference -------------------------------------------------------------


def test_compare_and_rollback_take_labels(writer: TestClient, bot: dict[str, Any], service: AgentService) -> None:
    assert put_label(writer, bot, "production", {"version": 1}).status_code == 200
    assert put_label(writer, bot, "staging", {"version": "production"}).json()["version_number"] == 1
    assert put_label(writer, bot, "staging", {"version": "latest"}).json()["version_number"] == 3
    compared = writer.get(f"{bot['base']}/versions/production/compare/staging")
    assert compared.status_code == 200, compared.text
    assert (compared.json()["from"]["version_number"], compared.json()["to"]["version_number"]) == (1, 3)
    assert writer.get(f"{bot['base']}/versions/staging").json()["version_number"] == 3
    rolled = writer.post(f"{bot['base']}/versions/production/rollback")
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["temperature"] == 0.1
    with nothing_written(service):
        missing = writer.post(f"{bot['base']}/versions/stagin/rollback")
        body = assert_problem(missing, 404, "version_not_found")
        assert body["detail"] == "'stagin' is neither a version nor a label of Bot (its labels: production, staging)."
        assert_problem(writer.get(f"{bot['base']}/versions/stagin/compare/live"), 404, "version_not_found")
