"""Hostile bodies and parameters: each is a clear 4xx problem, never a 500, and nothing is written.

Huge strings, wrong JSON types for every field, deep nesting, an array for
an object, unknown fields, NaN and Infinity, lone surrogates, numbers
beyond 64 bits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from kaizen_tui.api.app import MAX_BODY_BYTES
from kaizen_tui.service import AgentService
from tests.api.conftest import Tokens, assert_problem, nothing_written
from tests.support import rename_as_an_older_tool, write_raw_snapshot

AGENT = "/api/v1/agents/Support Agent"
JSON_HEADERS = {"Content-Type": "application/json"}
#: The endpoints that read a JSON body: (method, path, a valid body).
BODY_ENDPOINTS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/api/v1/agents", {"name": "New Agent", "model_id": "gpt-4o"}),
    ("PATCH", AGENT, {"temperature": 0.1}),
    ("POST", f"{AGENT}/versions", {"changelog": "Snapshot"}),
    ("POST", f"{AGENT}/versions/prune", {"keep": 1}),
]
BODY_IDS = ["create-agent", "patch-agent", "create-version", "prune"]

#: Values of the wrong JSON type (or out of range) for each field of an agent.
WRONG_VALUES: dict[str, list[Any]] = {
    "name": [None, 7, True, [], {}, "", "   ", "x" * 201],
    "description": [None, 7, False, ["a"], {"a": 1}],
    "agent_type": [None, 7, True, ["chat"], {}, "robot", "CHAT"],
    "system_prompt": [None, 7, True, ["You are"], {"text": "x"}],
    "model_id": [None, 7, True, [], {}, "", "  "],
    "temperature": [None, "0.7", True, [], {}, -0.1, 2.5],
    "max_tokens": [None, "100", True, [], {}, 1.5, -1, 100_000_001],
    "extra": [None, 7, "tools", True, ["a"]],
    "status": [None, 7, True, [], {}, "deleted", "ACTIVE"],
}


def send(client: TestClient, method: str, path: str, body: bytes) -> httpx.Response:
    return client.request(method, path, content=body, headers=JSON_HEADERS)


def refused_field(response: httpx.Response) -> str:
    """The field a 422 invalid_value problem names."""
    return str(assert_problem(response, 422, "invalid_value")["field"])


# -- wrong types and values ---------------------------------------------------------


@pytest.mark.parametrize("field", list(WRONG_VALUES))
def test_a_wrong_value_for_a_field_of_a_new_agent_is_422_naming_it(
    writer: TestClient, service: AgentService, agent: dict[str, Any], field: str
) -> None:
    with nothing_written(service):
        for value in WRONG_VALUES[field]:
            body = {"name": "New Agent", "model_id": "gpt-4o", field: value}
            problem = assert_problem(writer.post("/api/v1/agents", json=body), 422, "invalid_value")
            assert problem["field"] == field, (value, problem)


@pytest.mark.parametrize("field", list(WRONG_VALUES))
def test_a_wrong_value_for_a_field_in_a_patch_is_422_naming_it(
    writer: TestClient, service: AgentService, agent: dict[str, Any], field: str
) -> None:
    with nothing_written(service):
        for value in WRONG_VALUES[field]:
            problem = assert_problem(writer.patch(AGENT, json={field: value}), 422, "invalid_value")
            assert problem["field"] == field, (value, problem)


def test_one_bad_field_among_good_ones_writes_none_of_them(
    writer: TestClient, service: AgentService, agent: dict[str, Any]
) -> None:
    with nothing_written(service):
        body = {"system_prompt": "New", "temperature": 0.1, "max_tokens": "lots"}
        assert assert_problem(writer.patch(AGENT, json=body), 422, "invalid_value")["field"] == "max_tokens"


def test_a_wrong_changelog_is_422_naming_it(writer: TestClient, service: AgentService, agent: dict[str, Any]) -> None:
    with nothing_written(service):
        for value in (7, True, ["a"], {"text": "a"}):
            problem = assert_problem(writer.post(f"{AGENT}/versions", json={"changelog": value}), 422, "invalid_value")
            assert problem["field"] == "changelog"


def test_a_wrong_plan_id_is_422_naming_it(writer: TestClient, service: AgentService, agent: dict[str, Any]) -> None:
    with nothing_written(service):
        for value in (7, True, ["a"], {"id": "a"}):
            body = {"keep": 1, "plan_id": value}
            problem = assert_problem(writer.post(f"{AGENT}/versions/prune", json=body), 422, "invalid_value")
            assert problem["field"] == "plan_id"


# -- unknown fields, and not an object -------------------------------------------------


@pytest.mark.parametrize(("method", "path", "valid"), BODY_ENDPOINTS, ids=BODY_IDS)
def test_an_unknown_field_is_422_naming_it(
    writer: TestClient, service: AgentService, agent: dict[str, Any], method: str, path: str, valid: dict[str, Any]
) -> None:
    with nothing_written(service):
        problem = assert_problem(writer.request(method, path, json={**valid, "colour": "red"}), 422, "invalid_value")
    assert problem["field"] == "colour"
    assert "colour" in problem["detail"]


def test_every_unknown_field_is_refused_not_ignored(
    writer: TestClient, service: AgentService, agent: dict[str, Any]
) -> None:
    """A typo never silently does nothing (nor do fields only the server sets)."""
    with nothing_written(service):
        for body in ({"temprature": 0.1}, {"revision": 9}, {"id": "agt-x"}, {"created_by": "mallory"}):
            assert refused_field(writer.patch(AGENT, json=body)) == next(iter(body))
        assert refused_field(writer.post(f"{AGENT}/versions", json={"changelog": "x", "by": "y"})) == "by"


@pytest.mark.parametrize(("method", "path", "valid"), BODY_ENDPOINTS, ids=BODY_IDS)
def test_a_body_that_is_not_an_object_is_422(
    writer: TestClient, service: AgentService, agent: dict[str, Any], method: str, path: str, valid: dict[str, Any]
) -> None:
    with nothing_written(service):
        for body in ([], [valid], "text", 3, True):
            problem = assert_problem(writer.request(method, path, json=body), 422, "invalid_value")
            assert problem["field"] == "body", body


# -- size and depth ---------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "valid"), BODY_ENDPOINTS, ids=BODY_IDS)
def test_a_huge_string_in_a_field_is_413_and_nothing_is_written(
    writer: TestClient, service: AgentService, agent: dict[str, Any], method: str, path: str, valid: dict[str, Any]
) -> None:
    field = next(iter(valid))
    with nothing_written(service):
        response = writer.request(method, path, json={**valid, field: "A" * (2 * MAX_BODY_BYTES)})
        assert_problem(response, 413, "body_too_large")


def test_a_huge_name_under_the_body_limit_is_422(
    writer: TestClient, service: AgentService, agent: dict[str, Any]
) -> None:
    with nothing_written(service):
        for method, path in [("POST", "/api/v1/agents"), ("PATCH", AGENT)]:
            body = {"name": "N" * 500_000, "model_id": "m"} if method == "POST" else {"name": "N" * 500_000}
            problem = assert_problem(writer.request(method, path, json=body), 422, "invalid_value")
            assert problem["field"] == "name"
            assert len(problem["detail"]) < 200  # the value is not echoed back


@pytest.mark.parametrize(("method", "path", "valid"), BODY_ENDPOINTS, ids=BODY_IDS)
def test_deeply_nested_json_is_400(
    writer: TestClient, service: AgentService, agent: dict[str, Any], method: str, path: str, valid: dict[str, Any]
) -> None:
    """100,000 levels, sent as JSON, with no Content-Type and as text/plain (what curl -d and scripts send)."""
    with nothing_written(service):
        for content_type in ("application/json", None, "text/plain"):
            headers = {"Content-Type": content_type} if content_type else {}
            for body in (b"[" * 100_000, b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000):
                response = writer.request(method, path, content=body, headers=headers)
                assert_problem(response, 400, "malformed_json")


def test_nesting_deeper_than_extra_allows_is_422(
    writer: TestClient, service: AgentService, agent: dict[str, Any]
) -> None:
    with nothing_written(service):
        for depth in (33, 900):
            nested = b'{"extra": {"a": ' + b"[" * depth + b"]" * depth + b"}}"
            problem = assert_problem(send(writer, "PATCH", AGENT, nested), 422, "invalid_value")
            assert problem["field"] == "extra"


def test_nesting_in_a_field_that_takes_no_nesting_is_422(
    writer: TestClient, service: AgentService, agent: dict[str, Any]
) -> None:
    nested = b"[" * 500 + b"]" * 500
    with nothing_written(service):
        problem = assert_problem(send(writer, "PATCH", AGENT, b'{"system_prompt": %s}' % nested), 422, "invalid_value")
        assert problem["field"] == "system_prompt"
        changelog = b'{"changelog": %s}' % nested
        problem = assert_problem(send(writer, "POST", f"{AGENT}/versions", changelog), 422, "invalid_value")
        assert problem["field"] == "changelog"
        assert_problem(send(writer, "POST", f"{AGENT}/versions/prune", b'{"keep": %s}' % nested), 422, "invalid_keep")


# -- NaN, Infinity, huge numbers ------------------------------------------------------


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_literals_are_refused(
    writer: TestClient, service: AgentService, agent: dict[str, Any], literal: str
) -> None:
    value = literal.encode()
    with nothing_written(service):
        for field in ("temperature", "max_tokens", "name", "status"):
            assert refused_field(send(writer, "PATCH", AGENT, b'{"%s": %s}' % (field.encode(), value))) == field
        assert refused_field(send(writer, "PATCH", AGENT, b'{"extra": {"weight": %s}}' % value)) == "extra"
        create = b'{"name": "N", "model_id": "m", "temperature": %s}' % value
        assert refused_field(send(writer, "POST", "/api/v1/agents", create)) == "temperature"
        changelog = b'{"changelog": %s}' % value
        assert refused_field(send(writer, "POST", f"{AGENT}/versions", changelog)) == "changelog"
        assert_problem(send(writer, "POST", f"{AGENT}/versions/prune", b'{"keep": %s}' % value), 422, "invalid_keep")


def test_numbers_too_big_for_64_bits_in_a_body_are_refused(
    writer: TestClient, service: AgentService, agent: dict[str, Any]
) -> None:
    huge = str(2**64).encode()
    with nothing_written(service):
        assert refused_field(send(writer, "PATCH", AGENT, b'{"max_tokens": %s}' % huge)) == "max_tokens"
        assert refused_field(send(writer, "PATCH", AGENT, b'{"temperature": 1e400}')) == "temperature"
        assert_problem(send(writer, "POST", f"{AGENT}/versions/prune", b'{"keep": %s}' % huge), 422, "invalid_keep")
        # More digits than Python converts to an int: valid JSON, but no field takes such a number.
        for method, path, _valid in BODY_ENDPOINTS:
            digits = b'{"keep": %s}' % (b"1" * 5000)
            problem = assert_problem(send(writer, method, path, digits), 422, "invalid_value")
            assert problem["detail"] == "body: holds a number of more than 4,300 digits"
        version = b'{"version": %s}' % (b"1" * 5000)
        assert refused_field(send(writer, "PUT", f"{AGENT}/labels/production", version)) == "body"
        # Without a JSON content type (curl -d) the body is read by the app itself: the same answer.
        raw = writer.post(f"{AGENT}/versions/prune", content=b'{"keep": %s}' % (b"1" * 5000))
        assert refused_field(raw) == "body"


#: Version numbers no database can hold: past Python's 4,300 digits, 64 bits, PostgreSQL's INTEGER.
HUGE_VERSIONS = ["9" * 4400, "v" + "9" * 4400, str(2**64), str(2**31)]


@pytest.mark.parametrize("number", HUGE_VERSIONS, ids=["4400-digits", "v-4400-digits", "2**64", "2**31"])
def test_a_version_number_no_database_can_hold_is_404_on_every_endpoint_that_takes_one(
    writer: TestClient, service: AgentService, agent: dict[str, Any], tokens: Tokens, number: str
) -> None:
    assert writer.post(f"{AGENT}/versions", json={}).status_code == 201
    reader = tokens.header("read")
    with nothing_written(service):
        for method, path, headers in [
            ("GET", f"{AGENT}/versions/{number}", reader),
            ("GET", f"{AGENT}/versions/{number}/compare/live", reader),
            ("GET", f"{AGENT}/versions/1/compare/{number}", reader),
            ("GET", f"{AGENT}/config?version={number}", reader),
            ("DELETE", f"{AGENT}/versions/{number}", {}),
            ("POST", f"{AGENT}/versions/{number}/rollback", {}),
        ]:
            problem = assert_problem(writer.request(method, path, headers=headers), 404, "version_not_found")
            assert len(problem["detail"]) < 120, problem["detail"]
        put = writer.put(f"{AGENT}/labels/production", json={"version": number})
        assert_problem(put, 404, "version_not_found")


def test_an_if_match_revision_past_64_bits_names_no_revision(
    writer: TestClient, service: AgentService, agent: dict[str, Any]
) -> None:
    assert writer.post(f"{AGENT}/versions", json={}).status_code == 201
    with nothing_written(service):
        for tag in ("9" * 4400, str(2**64)):
            headers = {"If-Match": f'"{tag}"'}
            patched = writer.patch(AGENT, json={"temperature": 0.1}, headers=headers)
            assert_problem(patched, 412, "precondition_failed")
            assert_problem(writer.post(f"{AGENT}/versions/1/rollback", headers=headers), 412, "precondition_failed")


def test_paging_parameters_beyond_64_bits_are_422_not_500(writer: TestClient, agent: dict[str, Any]) -> None:
    for path in (f"{AGENT}/versions?offset={2**63}", f"/api/v1/audit?before={10**26}"):
        response = writer.get(path)
        assert response.status_code == 422, (path, response.text)


def test_a_name_no_url_can_reach_is_refused_and_one_from_before_is_reached_by_id(
    writer: TestClient, service: AgentService, agent: dict[str, Any], db_path: Path
) -> None:
    with nothing_written(service):
        created = writer.post("/api/v1/agents", json={"name": "team/bot", "model_id": "m"})
        assert "must not contain '/'" in assert_problem(created, 422, "invalid_value")["detail"]
        renamed = writer.patch(AGENT, json={"name": "rtl\u202eevil"})
        assert "control characters (U+202E" in assert_problem(renamed, 422, "invalid_value")["detail"]
    rename_as_an_older_tool(db_path, agent["id"], "a/b")
    assert writer.get(f"/api/v1/agents/{agent['id']}").json()["name"] == "a/b"
    assert writer.patch(f"/api/v1/agents/{agent['id']}", json={"description": "still here"}).status_code == 200


# -- lone surrogates ------------------------------------------------------------------


def test_a_lone_surrogate_in_a_string_value_is_422_naming_the_field(
    writer: TestClient, service: AgentService, agent: dict[str, Any]
) -> None:
    with nothing_written(service):
        for field in ("name", "description", "system_prompt", "model_id", "agent_type", "status"):
            body = b'{"%s": "ok \\ud800 ok"}' % field.encode()
            assert refused_field(send(writer, "PATCH", AGENT, body)) == field
        for body in (b'{"extra": {"k": "\\udfff"}}', b'{"extra": {"\\ud800": 1}}'):
            assert refused_field(send(writer, "PATCH", AGENT, body)) == "extra"
        create = b'{"name": "\\ud800", "model_id": "m"}'
        assert refused_field(send(writer, "POST", "/api/v1/agents", create)) == "name"
        changelog = b'{"changelog": "before \\ud800"}'
        assert refused_field(send(writer, "POST", f"{AGENT}/versions", changelog)) == "changelog"


def test_invalid_utf8_in_a_path_or_query_is_404_not_500(writer: TestClient, agent: dict[str, Any]) -> None:
    """%ED%A0%80: the UTF-8-like bytes of the surrogate U+D800, which no UTF-8 decoder accepts."""
    for path in ("/api/v1/agents/%ED%A0%80", f"{AGENT}/versions/%ED%A0%80", "/api/v1/audit?agent_id=%ED%A0%80"):
        response = writer.get(path)
        assert response.status_code == 404, (path, response.text)


@pytest.mark.parametrize(("method", "path", "valid"), BODY_ENDPOINTS, ids=BODY_IDS)
def test_a_lone_surrogate_in_a_field_name_is_422(
    writer: TestClient, service: AgentService, agent: dict[str, Any], method: str, path: str, valid: dict[str, Any]
) -> None:
    with nothing_written(service):
        assert_problem(send(writer, method, path, b'{"\\ud800": 1}'), 422, "invalid_value")


def test_comparing_a_stored_snapshot_with_a_lone_surrogate_is_not_a_500(
    writer: TestClient, db_path: Path, agent: dict[str, Any]
) -> None:
    assert writer.post(f"{AGENT}/versions").status_code == 201
    write_raw_snapshot(
        db_path, (agent["id"], 1), '{"name": "Support Agent", "model_id": "m", "system_prompt": "x\\ud800"}'
    )
    assert_problem(writer.post(f"{AGENT}/versions/1/rollback"), 409, "damaged_snapshot")
    for path in (f"{AGENT}/versions/1/compare/live", f"{AGENT}/versions/previous/compare/1"):
        response = writer.get(path)
        assert response.status_code == 200, (path, response.text)
        assert response.json()["from" if "live" in path else "to"]["damaged"]
