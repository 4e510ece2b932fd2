"""Every endpoint of the API, through FastAPI's test client: the spec's shapes, ETags, the actor.

The app is ``asgi_app(service)``, what ``kaizen-tui serve`` runs; the
requests carry the tokens of ``conftest.py`` (reader, ci-bot, boss).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from kaizen_tui.api.app import asgi_app
from kaizen_tui.service import AGENT_KEYS, AgentService
from tests.api.conftest import (
    JSON_TYPE,
    SERVER_DEADLINE,
    TOKEN_NAMES,
    Tokens,
    assert_problem,
    bearer,
    nothing_written,
    run_kaizen,
    running_server,
)
from tests.support import write_raw_snapshot

#: The spec's keys of a version, plus the agent it belongs to.
VERSION_KEYS = {"id", "agent_id", "version_number", "config_snapshot", "changelog", "created_by", "created_at"}
#: The spec's keys of a config snapshot (``extra`` only when it is not empty).
SNAPSHOT_KEYS = {"name", "description", "agent_type", "system_prompt", "model_id", "temperature", "max_tokens"}
#: An agent as the API returns it: its fields and revision, and its version summary.
AGENT_RESPONSE_KEYS = {*AGENT_KEYS, "version_count", "latest_version", "unsaved_changes"}


def versions_url(agent: dict[str, Any], tail: str = "") -> str:
    return f"/api/v1/agents/{agent['id']}/versions{tail}"


def snapshot(client: TestClient, agent: dict[str, Any], changelog: str | None = None) -> dict[str, Any]:
    response = client.post(versions_url(agent), json={} if changelog is None else {"changelog": changelog})
    assert response.status_code == 201, response.text
    return response.json()


def patch(client: TestClient, agent: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    response = client.patch(f"/api/v1/agents/{agent['id']}", json=fields)
    assert response.status_code == 200, response.text
    return response.json()


# -- health and documentation ---------------------------------------------------------


def test_healthz_answers_without_a_token(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON_TYPE
    assert response.json() == {"status": "ok"}


def test_the_openapi_document_describes_every_endpoint(client: TestClient, tokens: Tokens) -> None:
    response = client.get("/openapi.json", headers=tokens.header("read"))
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "kaizen-tui"
    methods = {path: set(operations) - {"head"} for path, operations in document["paths"].items()}
    assert methods == {
        "/healthz": {"get"},
        "/api/v1/agents": {"get", "post"},
        "/api/v1/agents/{agent}": {"get", "patch", "delete"},
        "/api/v1/agents/{agent}/config": {"get"},
        "/api/v1/agents/{agent}/versions": {"get", "post"},
        "/api/v1/agents/{agent}/versions/prune": {"post"},
        "/api/v1/agents/{agent}/versions/{version}": {"get", "delete"},
        "/api/v1/agents/{agent}/versions/{version}/rollback": {"post"},
        "/api/v1/agents/{agent}/versions/{old}/compare/{new}": {"get"},
        "/api/v1/agents/{agent}/labels": {"get"},
        "/api/v1/agents/{agent}/labels/history": {"get"},
        "/api/v1/agents/{agent}/labels/{label}": {"put", "delete"},
        "/api/v1/labels/protected": {"get"},
        "/api/v1/labels/protected/{label}": {"put", "delete"},
        "/api/v1/audit": {"get"},
    }


def test_every_operation_in_the_openapi_document_has_its_own_operation_id(client: TestClient, tokens: Tokens) -> None:
    document = client.get("/openapi.json", headers=tokens.header("read")).json()
    ids = [operation["operationId"] for operations in document["paths"].values() for operation in operations.values()]
    assert len(ids) == len(set(ids)), sorted(ids)


def test_the_interactive_docs_are_an_html_page_loading_the_openapi_document(client: TestClient, tokens: Tokens) -> None:
    response = client.get("/docs", headers=tokens.header("read"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in response.text


def test_the_docs_page_loads_everything_from_this_server_so_it_works_offline(client: TestClient) -> None:
    page = client.get("/docs").text
    # Every address the page names (scripts, styles, icons, the validator badge) is a path on this server.
    addresses = re.findall(r"""(?:src|href)=["']([^"']+)["']|url:\s*['"]([^'"]+)['"]""", page)
    paths = [found for pair in addresses for found in pair if found]
    assert len(paths) >= 4, page
    assert not [path for path in paths if not path.startswith("/") or path.startswith("//")], paths
    assert "://" not in page.replace("window.location.origin", ""), "no other host, not even in a setting"
    assert '"validatorUrl": null' in page, "Swagger UI's badge would be fetched from validator.swagger.io"
    for path in paths:
        asset = client.get(path)
        assert asset.status_code == 200, path
    script = client.get(next(path for path in paths if path.endswith(".js")))
    assert "SwaggerUIBundle" in script.text and script.headers["content-type"].startswith("text/javascript")
    assert client.get("/redoc").status_code == 404, "ReDoc stays off (it is not needed beside /docs)"


# -- agents ---------------------------------------------------------------------------


def test_creating_an_agent_answers_201_with_the_agent_its_location_and_etag(
    writer: TestClient, agent_data: dict[str, Any]
) -> None:
    response = writer.post("/api/v1/agents", json=agent_data)
    assert response.status_code == 201
    assert response.headers["content-type"] == JSON_TYPE
    created = response.json()
    assert set(created) == AGENT_RESPONSE_KEYS
    assert {key: created[key] for key in agent_data} == agent_data
    assert created["revision"] == 1 and created["status"] == "draft"
    assert created["version_count"] == 0 and created["latest_version"] is None and created["unsaved_changes"]
    assert response.headers["location"] == f"/api/v1/agents/{created['id']}"
    assert response.headers["etag"] == '"1"'


def test_a_created_agent_records_the_token_name_as_its_creator(writer: TestClient, agent: dict[str, Any]) -> None:
    assert agent["created_by"] == TOKEN_NAMES["write"]
    assert writer.get(f"/api/v1/agents/{agent['id']}").json()["created_by"] == TOKEN_NAMES["write"]


def test_listing_agents_with_a_read_token(client: TestClient, tokens: Tokens, agent: dict[str, Any]) -> None:
    other = client.post("/api/v1/agents", json={"name": "Billing Bot", "model_id": "gpt-4o-mini"})
    assert other.status_code == 201
    response = client.get("/api/v1/agents", headers=tokens.header("read"))
    assert response.status_code == 200
    listed = response.json()
    assert [entry["name"] for entry in listed] == ["Billing Bot", "Support Agent"]
    assert all(set(entry) == AGENT_RESPONSE_KEYS for entry in listed)


def test_listing_agents_when_there_are_none(client: TestClient, tokens: Tokens) -> None:
    response = client.get("/api/v1/agents", headers=tokens.header("read"))
    assert response.status_code == 200
    assert response.json() == []


def test_an_agent_is_found_by_id_and_by_name_ignoring_case(writer: TestClient, agent: dict[str, Any]) -> None:
    by_id = writer.get(f"/api/v1/agents/{agent['id']}")
    by_name = writer.get("/api/v1/agents/Support Agent")
    by_other_case = writer.get("/api/v1/agents/support%20agent")
    assert by_id.status_code == by_name.status_code == by_other_case.status_code == 200
    assert by_id.json() == by_name.json() == by_other_case.json() == agent


def test_patch_changes_only_the_fields_given_and_raises_the_revision(writer: TestClient, agent: dict[str, Any]) -> None:
    response = writer.patch(f"/api/v1/agents/{agent['id']}", json={"temperature": 0.2, "status": "active"})
    assert response.status_code == 200
    updated = response.json()
    assert updated["temperature"] == 0.2 and updated["status"] == "active"
    assert updated["revision"] == agent["revision"] + 1
    assert {key: updated[key] for key in ("name", "system_prompt", "model_id", "max_tokens")} == {
        key: agent[key] for key in ("name", "system_prompt", "model_id", "max_tokens")
    }
    assert response.headers["etag"] == f'"{updated["revision"]}"'


def test_patch_with_the_current_revision_in_if_match_is_applied(writer: TestClient, agent: dict[str, Any]) -> None:
    response = writer.patch(f"/api/v1/agents/{agent['id']}", json={"max_tokens": 512}, headers={"If-Match": '"1"'})
    assert response.status_code == 200
    assert response.json()["max_tokens"] == 512
    assert response.headers["etag"] == '"2"'


def test_patch_with_if_match_star_is_applied(writer: TestClient, agent: dict[str, Any]) -> None:
    response = writer.patch(f"/api/v1/agents/{agent['id']}", json={"max_tokens": 512}, headers={"If-Match": "*"})
    assert response.status_code == 200
    assert response.json()["revision"] == 2


def test_patch_with_the_same_values_changes_nothing(writer: TestClient, agent: dict[str, Any]) -> None:
    response = writer.patch(f"/api/v1/agents/{agent['id']}", json={"temperature": agent["temperature"]})
    assert response.status_code == 200
    assert response.json()["revision"] == agent["revision"]


def test_deleting_an_archived_agent_answers_204_and_removes_it_and_its_versions(
    writer: TestClient, tokens: Tokens, agent: dict[str, Any]
) -> None:
    snapshot(writer, agent)
    patch(writer, agent, {"status": "archived"})
    response = writer.delete(f"/api/v1/agents/{agent['id']}", headers=tokens.header("admin"))
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(writer.get(f"/api/v1/agents/{agent['id']}"), 404, "agent_not_found")
    assert_problem(writer.get(versions_url(agent)), 404, "agent_not_found")
    events = writer.get("/api/v1/audit").json()
    assert events[0]["action"] == "agent.delete"
    assert events[0]["actor"] == TOKEN_NAMES["admin"]
    assert events[0]["detail"]["versions_deleted"] == 1


def test_deleting_an_agent_by_name_with_its_revision_in_if_match(
    writer: TestClient, tokens: Tokens, agent: dict[str, Any]
) -> None:
    archived = patch(writer, agent, {"status": "archived"})
    headers = {**tokens.header("admin"), "If-Match": f'"{archived["revision"]}"'}
    assert writer.delete("/api/v1/agents/Support Agent", headers=headers).status_code == 204
    assert writer.get("/api/v1/agents").json() == []


# -- the live config ------------------------------------------------------------------


def test_config_is_the_live_config_in_the_snapshot_shape(writer: TestClient, agent: dict[str, Any]) -> None:
    response = writer.get(f"/api/v1/agents/{agent['id']}/config")
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON_TYPE
    config = response.json()
    assert set(config) == SNAPSHOT_KEYS
    assert config == {key: agent[key] for key in SNAPSHOT_KEYS}
    assert response.headers["x-kaizen-agent-revision"] == str(agent["revision"])


def test_config_is_what_a_snapshot_of_it_holds(writer: TestClient, agent: dict[str, Any]) -> None:
    version = snapshot(writer, agent)
    config = writer.get("/api/v1/agents/Support Agent/config").json()
    assert json.loads(version["config_snapshot"]) == config


def test_config_includes_extra_when_it_is_set(writer: TestClient, agent: dict[str, Any]) -> None:
    patch(writer, agent, {"extra": {"tools": ["search"], "retries": 2}})
    config = writer.get(f"/api/v1/agents/{agent['id']}/config").json()
    assert set(config) == {*SNAPSHOT_KEYS, "extra"}
    assert config["extra"] == {"tools": ["search"], "retries": 2}


# -- versions -------------------------------------------------------------------------


def test_creating_a_version_answers_201_with_the_spec_shape(writer: TestClient, agent: dict[str, Any]) -> None:
    response = writer.post(versions_url(agent), json={"changelog": "Updated system prompt for better accuracy"})
    assert response.status_code == 201
    assert response.headers["content-type"] == JSON_TYPE
    version = response.json()
    assert set(version) == VERSION_KEYS
    assert version["id"].startswith("ver-")
    assert version["agent_id"] == agent["id"]
    assert version["version_number"] == 1
    assert version["changelog"] == "Updated system prompt for better accuracy"
    assert version["created_by"] == TOKEN_NAMES["write"]
    assert isinstance(version["config_snapshot"], str)
    assert json.loads(version["config_snapshot"]) == {key: agent[key] for key in SNAPSHOT_KEYS}
    assert response.headers["location"] == versions_url(agent, f"/{version['id']}")


def test_creating_a_version_without_a_body_or_changelog(writer: TestClient, agent: dict[str, Any]) -> None:
    first = writer.post(versions_url(agent))
    second = writer.post(versions_url(agent), json={})
    third = writer.post(versions_url(agent), json={"changelog": None})
    assert [r.status_code for r in (first, second, third)] == [201, 201, 201]
    assert [r.json()["version_number"] for r in (first, second, third)] == [1, 2, 3]
    assert [r.json()["changelog"] for r in (first, second, third)] == [None, None, None]


def test_a_version_body_sent_without_a_json_content_type_is_read_as_json(
    writer: TestClient, agent: dict[str, Any]
) -> None:
    """What ``curl -d '{"changelog": ...}'`` sends (application/x-www-form-urlencoded)."""
    response = writer.post(
        versions_url(agent),
        content=b'{"changelog": "from curl"}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 201
    assert response.json()["changelog"] == "from curl"


def test_versions_of_an_agent_named_in_the_path(writer: TestClient, agent: dict[str, Any]) -> None:
    response = writer.post("/api/v1/agents/Support Agent/versions", json={"changelog": "by name"})
    assert response.status_code == 201
    assert response.json()["agent_id"] == agent["id"]
    assert [v["changelog"] for v in writer.get("/api/v1/agents/support agent/versions").json()] == ["by name"]


def test_versions_are_listed_newest_first_in_the_spec_shape(writer: TestClient, agent: dict[str, Any]) -> None:
    for number in range(1, 4):
        patch(writer, agent, {"max_tokens": number})
        snapshot(writer, agent, f"step {number}")
    response = writer.get(versions_url(agent))
    assert response.status_code == 200
    listed = response.json()
    assert [v["version_number"] for v in listed] == [3, 2, 1]
    assert all(set(v) >= VERSION_KEYS for v in listed), "the spec's keys, and more"
    assert [json.loads(v["config_snapshot"])["max_tokens"] for v in listed] == [3, 2, 1]
    assert response.headers["x-total-count"] == "3"
    assert "link" not in response.headers, "no next page without a limit"


def test_the_versions_list_is_what_versions_json_shows(
    writer: TestClient, service: AgentService, db_path: Path, agent: dict[str, Any]
) -> None:
    """labels, matches_live, damaged (and config, damaged_reason) as the CLI's versions --json has them."""
    for number in range(1, 4):
        patch(writer, agent, {"max_tokens": number})
        snapshot(writer, agent)
    assert writer.put(f"/api/v1/agents/{agent['id']}/labels/staging", json={"version": 1}).status_code == 200
    write_raw_snapshot(db_path, (agent["id"], 2))
    listed = writer.get(versions_url(agent)).json()
    assert [(v["version_number"], v["labels"], v["matches_live"], v["damaged"]) for v in listed] == [
        (3, [], True, False),
        (2, [], False, True),
        (1, ["staging"], False, False),
    ]
    assert listed[1]["damaged_reason"] and listed[1]["config"] is None
    assert listed == service.get_versions_with_config(agent["id"]), "one JSON form: the CLI's"


def test_versions_are_paged_with_limit_and_offset(writer: TestClient, agent: dict[str, Any]) -> None:
    for _ in range(5):
        snapshot(writer, agent)

    def numbers(query: str) -> list[int]:
        response = writer.get(versions_url(agent) + query)
        assert response.status_code == 200, response.text
        return [v["version_number"] for v in response.json()]

    assert numbers("?limit=2") == [5, 4]
    assert numbers("?limit=2&offset=2") == [3, 2]
    assert numbers("?limit=2&offset=4") == [1]
    assert numbers("?offset=3") == [2, 1]
    assert numbers("?offset=10") == []


def test_a_page_of_versions_links_to_the_next_and_counts_them_all(writer: TestClient, agent: dict[str, Any]) -> None:
    for _ in range(5):
        snapshot(writer, agent)
    url: str | None = "/api/v1/agents/Support Agent/versions?limit=2"
    pages = []
    while url is not None:
        response = writer.get(url)
        assert response.status_code == 200, response.text
        assert response.headers["x-total-count"] == "5"
        pages.append([v["version_number"] for v in response.json()])
        url = next_link(response)
    assert pages == [[5, 4], [3, 2], [1]]


def test_following_the_next_link_skips_and_repeats_nothing_while_others_snapshot_and_prune(
    writer: TestClient, agent: dict[str, Any]
) -> None:
    """The link pages by version number: an offset would show v4 twice after a snapshot, and skip one after a prune."""
    for _ in range(6):
        snapshot(writer, agent)
    first = writer.get(versions_url(agent, "?limit=2"))
    assert [v["version_number"] for v in first.json()] == [6, 5]
    snapshot(writer, agent)  # v7, by someone else, between two pages
    second = writer.get(next_link(first) or "")
    assert [v["version_number"] for v in second.json()] == [4, 3]
    assert second.headers["x-total-count"] == "7"
    assert writer.post(versions_url(agent, "/prune"), json={"keep": 6}).json()["deleted"] == 1  # v1 goes
    third = writer.get(next_link(second) or "")
    assert [v["version_number"] for v in third.json()] == [2]
    assert next_link(third) is None


def test_versions_before_a_number_and_bad_paging_parameters(writer: TestClient, agent: dict[str, Any]) -> None:
    for _ in range(3):
        snapshot(writer, agent)
    assert [v["version_number"] for v in writer.get(versions_url(agent, "?before=3")).json()] == [2, 1]
    assert writer.get(versions_url(agent, "?before=1")).json() == []
    assert_problem(writer.get(versions_url(agent, "?before=2&offset=1")), 422, "invalid_value")
    for query in ("?before=0", "?before=x", "?limit=0", f"?before={2**63}"):
        assert assert_problem(writer.get(versions_url(agent, query)), 422, "invalid_value")["field"] in (
            "query.before",
            "query.limit",
        ), query


def next_link(response: Any) -> str | None:
    """The target of the response's ``Link: <…>; rel="next"`` (None: it has none)."""
    header = response.headers.get("link")
    if header is None:
        return None
    match = re.fullmatch(r'<([^>]*)>; rel="next"', header)
    assert match, header
    return match.group(1)


def test_a_version_is_found_by_id_and_by_number(writer: TestClient, agent: dict[str, Any]) -> None:
    snapshot(writer, agent)
    second = snapshot(writer, agent, "second")
    for ref in (second["id"], "2", "v2"):
        response = writer.get(versions_url(agent, f"/{ref}"))
        assert response.status_code == 200, ref
        assert response.json() == second


def test_deleting_a_version_answers_204_and_it_is_gone(writer: TestClient, agent: dict[str, Any]) -> None:
    first = snapshot(writer, agent)
    snapshot(writer, agent)
    response = writer.delete(versions_url(agent, f"/{first['id']}"))
    assert response.status_code == 204
    assert response.content == b""
    assert [v["version_number"] for v in writer.get(versions_url(agent)).json()] == [2]
    gone = assert_problem(writer.get(versions_url(agent, "/1")), 404, "version_not_found")
    assert TOKEN_NAMES["write"] in gone["detail"]  # "deleted by ci-bot at ..."


def test_deleting_a_version_by_number(writer: TestClient, agent: dict[str, Any]) -> None:
    snapshot(writer, agent)
    assert writer.delete(versions_url(agent, "/v1")).status_code == 204
    assert writer.get(versions_url(agent)).json() == []


def test_prune_keeps_the_newest_versions(writer: TestClient, agent: dict[str, Any]) -> None:
    for _ in range(5):
        snapshot(writer, agent)
    response = writer.post(versions_url(agent, "/prune"), json={"keep": 2})
    assert response.status_code == 200
    assert response.json() == {
        "deleted": 3,
        "oldest_deleted": 1,
        "newest_deleted": 3,
        "kept": 2,
        "kept_labelled": [],
        "live_loses_version": False,
    }
    assert [v["version_number"] for v in writer.get(versions_url(agent)).json()] == [5, 4]


def test_prune_with_the_plan_id_a_conflict_returned_carries_it_out(writer: TestClient, agent: dict[str, Any]) -> None:
    """A stale plan_id is refused with the fresh plan; sending its plan_id back prunes."""
    for _ in range(3):
        snapshot(writer, agent)
    refused = writer.post(versions_url(agent, "/prune"), json={"keep": 1, "plan_id": "stale"})
    fresh = assert_problem(refused, 409, "conflict")["fresh"]
    assert [v["version_number"] for v in fresh["delete"]] == [2, 1]
    response = writer.post(versions_url(agent, "/prune"), json={"keep": 1, "plan_id": fresh["plan_id"]})
    assert response.status_code == 200
    assert response.json()["deleted"] == 2


def test_prune_when_there_is_nothing_to_delete(writer: TestClient, agent: dict[str, Any]) -> None:
    snapshot(writer, agent)
    response = writer.post(versions_url(agent, "/prune"), json={"keep": 10})
    assert response.status_code == 200
    assert response.json()["deleted"] == 0


def test_a_dry_run_answers_the_plan_and_the_prune_with_its_plan_id_deletes_exactly_that(
    writer: TestClient, service: AgentService, agent: dict[str, Any]
) -> None:
    for _ in range(4):
        snapshot(writer, agent)
    with nothing_written(service):
        response = writer.post(versions_url(agent, "/prune"), json={"keep": 2, "dry_run": True})
    assert response.status_code == 200, response.text
    plan = response.json()
    assert [v["version_number"] for v in plan["delete"]] == [2, 1]
    assert plan["live_loses_version"] is False and plan["kept_labelled"] == []
    assert plan == service.plan_prune(agent["id"], 2), "the plan every face shows"
    done = writer.post(versions_url(agent, "/prune"), json={"keep": 2, "plan_id": plan["plan_id"]})
    assert done.status_code == 200, done.text
    assert (done.json()["deleted"], done.json()["oldest_deleted"], done.json()["newest_deleted"]) == (2, 1, 2)
    assert [v["version_number"] for v in writer.get(versions_url(agent)).json()] == [4, 3]


def test_a_dry_runs_plan_id_deletes_nothing_once_versions_changed(
    writer: TestClient, service: AgentService, agent: dict[str, Any]
) -> None:
    for _ in range(3):
        snapshot(writer, agent)
    plan = writer.post(versions_url(agent, "/prune"), json={"keep": 1, "dry_run": True}).json()
    snapshot(writer, agent)  # v4: a prune keeping 1 would now delete v3 too, which the plan did not show
    with nothing_written(service):
        refused = writer.post(versions_url(agent, "/prune"), json={"keep": 1, "plan_id": plan["plan_id"]})
        fresh = assert_problem(refused, 409, "conflict")["fresh"]
    assert [v["version_number"] for v in fresh["delete"]] == [3, 2, 1]


def test_a_prune_says_when_the_versions_holding_the_live_config_went(writer: TestClient, agent: dict[str, Any]) -> None:
    first = snapshot(writer, agent)
    for tokens in (1, 2):
        patch(writer, agent, {"max_tokens": tokens})
        snapshot(writer, agent)
    writer.post(versions_url(agent, f"/{first['id']}/rollback"))  # the live config is v1's again
    plan = writer.post(versions_url(agent, "/prune"), json={"keep": 2, "dry_run": True}).json()
    assert plan["live_loses_version"] is True
    assert [(v["version_number"], v["matches_live"]) for v in plan["delete"]] == [(1, True)]
    result = writer.post(versions_url(agent, "/prune"), json={"keep": 2, "plan_id": plan["plan_id"]}).json()
    assert result["live_loses_version"] is True
    assert writer.get(f"/api/v1/agents/{agent['id']}").json()["unsaved_changes"] is True


def test_bad_dry_runs_are_422_and_change_nothing(
    writer: TestClient, service: AgentService, agent: dict[str, Any]
) -> None:
    snapshot(writer, agent)
    snapshot(writer, agent)
    with nothing_written(service):
        for body, code, field in [
            ({"keep": 1, "dry_run": "yes"}, "invalid_value", "dry_run"),
            ({"keep": 1, "dry_run": 1}, "invalid_value", "dry_run"),
            ({"keep": 1, "dry_run": True, "plan_id": "abc"}, "invalid_value", "plan_id"),
            ({"keep": 0, "dry_run": True}, "invalid_keep", "keep"),
            ({"dry_run": True}, "invalid_value", "keep"),
        ]:
            problem = assert_problem(writer.post(versions_url(agent, "/prune"), json=body), 422, code)
            assert problem["field"] == field, body


@pytest.fixture
def archives(tmp_path: Path) -> Path:
    folder = tmp_path / "archives"
    folder.mkdir()
    return folder


@pytest.fixture
def archiving(service: AgentService, tokens: Tokens, archives: Path) -> Iterator[TestClient]:
    """The app as ``serve --archive-dir ARCHIVES`` runs it, sending the admin token (boss)."""
    app = asgi_app(service, token_cache_seconds=0, archive_dir=archives)
    with TestClient(app, raise_server_exceptions=False, headers=tokens.header("admin")) as test_client:
        yield test_client


def test_an_admin_prune_archives_what_it_deletes_into_the_servers_archive_folder(
    archiving: TestClient, archives: Path, agent: dict[str, Any]
) -> None:
    for _ in range(3):
        snapshot(archiving, agent)
    body = {"keep": 1, "archive": "support-2026-q3.jsonl"}
    with_check = archiving.post(versions_url(agent, "/prune"), json={**body, "dry_run": True})
    assert with_check.status_code == 200, with_check.text
    assert not (archives / "support-2026-q3.jsonl").exists(), "a dry run writes nothing"
    response = archiving.post(versions_url(agent, "/prune"), json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["deleted"] == 2
    assert result["archive"]["file"] == str(archives / "support-2026-q3.jsonl")
    assert result["archive"]["versions"] == 2
    assert [path.name for path in archives.iterdir()] == ["support-2026-q3.jsonl"]
    records = [json.loads(line) for line in (archives / "support-2026-q3.jsonl").read_text().splitlines()]
    assert sorted(r["version_number"] for r in records if r["kind"] == "version") == [1, 2]


def test_an_archive_never_replaces_a_file_and_then_nothing_is_deleted(
    archiving: TestClient, service: AgentService, archives: Path, tmp_path: Path, agent: dict[str, Any]
) -> None:
    for _ in range(2):
        snapshot(archiving, agent)
    (archives / "taken.jsonl").write_text("mine\n")
    outside = tmp_path / "outside.txt"
    outside.write_text("not the server's\n")
    (archives / "link.jsonl").symlink_to(outside)
    (archives / "dangling.jsonl").symlink_to(tmp_path / "nothing-here")
    with nothing_written(service):
        for name in ("taken.jsonl", "link.jsonl", "dangling.jsonl"):
            for dry_run in (True, False):
                response = archiving.post(
                    versions_url(agent, "/prune"), json={"keep": 1, "archive": name, "dry_run": dry_run}
                )
                problem = assert_problem(response, 409, "archive_exists")
                assert name in problem["detail"] and str(archives) not in problem["detail"]
    assert (archives / "taken.jsonl").read_text() == "mine\n"
    assert outside.read_text() == "not the server's\n"
    assert not (tmp_path / "nothing-here").exists()


def test_an_archive_name_is_a_plain_file_name_in_the_folder(
    archiving: TestClient, service: AgentService, archives: Path, tmp_path: Path, agent: dict[str, Any]
) -> None:
    for _ in range(2):
        snapshot(archiving, agent)
    with nothing_written(service):
        for name in ("../escape.jsonl", "sub/x.jsonl", "/tmp/x.jsonl", ".hidden", "..", "", "a\x00b", "x" * 101, 7):
            response = archiving.post(versions_url(agent, "/prune"), json={"keep": 1, "archive": name})
            assert assert_problem(response, 422, "invalid_value")["field"] == "archive", name
    assert list(archives.iterdir()) == [] and not (tmp_path / "escape.jsonl").exists()


def test_only_an_admin_token_archives_and_only_where_the_server_has_a_folder(
    archiving: TestClient, client: TestClient, service: AgentService, tokens: Tokens, agent: dict[str, Any]
) -> None:
    for _ in range(2):
        snapshot(archiving, agent)
    body = {"keep": 1, "archive": "a.jsonl"}
    with nothing_written(service):
        response = archiving.post(versions_url(agent, "/prune"), json=body, headers=tokens.header("write"))
        assert "admin token" in assert_problem(response, 403, "forbidden")["detail"]
        unconfigured = client.post(versions_url(agent, "/prune"), json=body, headers=tokens.header("admin"))
        assert assert_problem(unconfigured, 422, "invalid_value")["field"] == "archive"


def test_serve_archives_into_the_folder_it_is_given_and_refuses_one_that_is_not_there(tmp_path: Path) -> None:
    db = tmp_path / "kaizen.db"
    assert run_kaizen(db, "create", "--name", "Bot", "--model", "m").returncode == 0
    for _ in range(2):
        assert run_kaizen(db, "snapshot", "Bot").returncode == 0
    admin = json.loads(run_kaizen(db, "token", "create", "boss", "--role", "admin", "--json").stdout)["token"]
    missing = run_kaizen(db, "serve", "--port", "1", "--archive-dir", str(tmp_path / "nowhere"))
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and "--archive-dir" in missing.stderr and "no such folder" in missing.stderr
    archives = tmp_path / "archives"
    archives.mkdir()
    with running_server(db, tmp_path / "server.stderr", serve_args=("--archive-dir", str(archives))) as server:
        response = httpx.post(
            f"{server.url}/api/v1/agents/Bot/versions/prune",
            json={"keep": 1, "archive": "bot.jsonl"},
            headers=bearer(admin),
            timeout=SERVER_DEADLINE,
        )
    assert response.status_code == 200, response.text
    assert response.json()["archive"]["file"] == str(archives / "bot.jsonl")
    assert (archives / "bot.jsonl").is_file()


# -- rollback ------------------------------------------------------------------------


def test_rollback_restores_the_version_and_returns_the_agent(writer: TestClient, agent: dict[str, Any]) -> None:
    first = snapshot(writer, agent, "Backup before changes")
    changed = patch(writer, agent, {"system_prompt": "New prompt...", "temperature": 1.1})
    response = writer.post(versions_url(agent, f"/{first['id']}/rollback"))
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON_TYPE
    restored = response.json()
    assert set(restored) >= AGENT_RESPONSE_KEYS
    assert restored["id"] == agent["id"]
    assert restored["system_prompt"] == agent["system_prompt"] and restored["temperature"] == agent["temperature"]
    assert restored["revision"] == changed["revision"] + 1
    assert sorted(restored["changed"]) == ["system_prompt", "temperature"]
    assert response.headers["etag"] == f'"{restored["revision"]}"'
    assert writer.get(f"/api/v1/agents/{agent['id']}/config").json() == json.loads(first["config_snapshot"])


def test_rollback_first_saves_a_live_config_no_version_holds(writer: TestClient, agent: dict[str, Any]) -> None:
    snapshot(writer, agent)
    patch(writer, agent, {"system_prompt": "Unsaved work"})
    restored = writer.post(versions_url(agent, "/1/rollback")).json()
    assert restored["saved_as_version"] == 2
    saved = writer.get(versions_url(agent, "/2")).json()
    assert json.loads(saved["config_snapshot"])["system_prompt"] == "Unsaved work"
    assert saved["changelog"] == "Auto: before rollback to v1"
    assert saved["created_by"] == TOKEN_NAMES["write"]


def test_rollback_with_the_current_revision_in_if_match(writer: TestClient, agent: dict[str, Any]) -> None:
    snapshot(writer, agent)
    current = patch(writer, agent, {"temperature": 0.1})
    response = writer.post(versions_url(agent, "/v1/rollback"), headers={"If-Match": f'"{current["revision"]}"'})
    assert response.status_code == 200
    assert response.json()["temperature"] == agent["temperature"]


def test_rollback_to_the_live_config_changes_nothing_but_is_audited(writer: TestClient, agent: dict[str, Any]) -> None:
    snapshot(writer, agent)
    restored = writer.post(versions_url(agent, "/1/rollback")).json()
    assert restored["changed"] == [] and restored["saved_as_version"] is None
    assert restored["revision"] == agent["revision"]
    assert writer.get(f"/api/v1/audit?agent_id={agent['id']}").json()[0]["action"] == "version.rollback"


# -- compare --------------------------------------------------------------------------


def test_compare_two_versions_lists_the_changed_fields(writer: TestClient, agent: dict[str, Any]) -> None:
    snapshot(writer, agent)
    patch(writer, agent, {"temperature": 0.1, "model_id": "gpt-4o"})
    snapshot(writer, agent)
    response = writer.get(versions_url(agent, "/1/compare/2"))
    assert response.status_code == 200
    compared = response.json()
    assert compared["from"]["version_number"] == 1 and compared["to"]["version_number"] == 2
    assert compared["identical"] is False
    assert sorted(change["path"] for change in compared["changes"]) == ["model_id", "temperature"]


def test_compare_a_version_with_live(writer: TestClient, agent: dict[str, Any]) -> None:
    version = snapshot(writer, agent)
    same = writer.get(versions_url(agent, f"/{version['id']}/compare/live")).json()
    assert same["identical"] is True and same["to"]["label"] == "live"
    patch(writer, agent, {"description": "Changed live"})
    changed = writer.get(versions_url(agent, "/v1/compare/live")).json()
    assert [change["path"] for change in changed["changes"]] == ["description"]
    reverse = writer.get(versions_url(agent, "/live/compare/1")).json()
    assert reverse["from"]["label"] == "live" and reverse["to"]["label"] == "v1"


def test_compare_previous_with_a_version(writer: TestClient, agent: dict[str, Any]) -> None:
    snapshot(writer, agent)
    patch(writer, agent, {"max_tokens": 99})
    snapshot(writer, agent)
    compared = writer.get(versions_url(agent, "/previous/compare/2")).json()
    assert compared["from"]["version_number"] == 1 and compared["to"]["version_number"] == 2
    assert [change["path"] for change in compared["changes"]] == ["max_tokens"]
    first = writer.get(versions_url(agent, "/previous/compare/1")).json()
    assert first["from"]["label"] == "nothing" and first["identical"] is False


def test_compare_previous_with_live_is_refused_naming_the_field(writer: TestClient, agent: dict[str, Any]) -> None:
    body = assert_problem(writer.get(versions_url(agent, "/previous/compare/live")), 422, "invalid_value")
    assert body["field"] == "old"


# -- audit ----------------------------------------------------------------------------


def test_the_audit_log_names_the_token_as_the_actor(writer: TestClient, tokens: Tokens, agent: dict[str, Any]) -> None:
    snapshot(writer, agent)
    response = writer.get("/api/v1/audit", headers=tokens.header("read"))
    assert response.status_code == 200
    events = response.json()
    mine = [event for event in events if event["agent_id"] == agent["id"]]
    assert [event["action"] for event in mine] == ["version.create", "agent.create"]
    assert {event["actor"] for event in mine} == {TOKEN_NAMES["write"]}


def test_the_audit_log_of_one_agent_by_id_and_by_name(writer: TestClient, agent: dict[str, Any]) -> None:
    other = writer.post("/api/v1/agents", json={"name": "Billing Bot", "model_id": "gpt-4o-mini"}).json()
    snapshot(writer, other)
    snapshot(writer, agent)
    by_id = writer.get("/api/v1/audit", params={"agent_id": agent["id"]})
    by_name = writer.get("/api/v1/audit", params={"agent_id": "Support Agent"})
    assert by_id.status_code == by_name.status_code == 200
    assert by_id.json() == by_name.json()
    assert {event["agent_id"] for event in by_id.json()} == {agent["id"]}
    assert [event["action"] for event in by_id.json()] == ["version.create", "agent.create"]


def test_the_audit_log_pages_with_limit_and_before(writer: TestClient, agent: dict[str, Any]) -> None:
    for _ in range(4):
        snapshot(writer, agent)
    everything = writer.get("/api/v1/audit", params={"agent_id": agent["id"]}).json()
    first = writer.get("/api/v1/audit", params={"agent_id": agent["id"], "limit": 2}).json()
    rest = writer.get("/api/v1/audit", params={"agent_id": agent["id"], "before": first[-1]["id"]}).json()
    assert first + rest == everything
    assert len(first) == 2


def test_the_audit_log_shows_who_changed_what(writer: TestClient, agent: dict[str, Any]) -> None:
    patch(writer, agent, {"temperature": 0.4})
    event = writer.get("/api/v1/audit", params={"agent_id": agent["id"]}).json()[0]
    assert event["action"] == "agent.update"
    assert event["actor"] == TOKEN_NAMES["write"]
    assert event["detail"]["changes"] == {"temperature": {"old": agent["temperature"], "new": 0.4}}


def test_audit_events_name_their_agent_even_once_it_is_deleted(
    writer: TestClient, tokens: Tokens, agent: dict[str, Any]
) -> None:
    snapshot(writer, agent)
    patch(writer, agent, {"name": "Helpdesk", "status": "archived"})
    mine = writer.get("/api/v1/audit", params={"agent_id": agent["id"]}).json()
    assert {(event["agent_name"], event["agent_deleted"]) for event in mine} == {("Helpdesk", False)}
    assert writer.delete(f"/api/v1/agents/{agent['id']}", headers=tokens.header("admin")).status_code == 204
    for ref in (agent["id"], "Helpdesk"):
        gone = writer.get("/api/v1/audit", params={"agent_id": ref})
        assert gone.status_code == 200, gone.text
        assert [event["action"] for event in gone.json()][:1] == ["agent.delete"]
        assert {(event["agent_name"], event["agent_deleted"]) for event in gone.json()} == {("Helpdesk", True)}


# -- ETags and conditional requests ---------------------------------------------------


def test_an_agent_etag_is_its_revision(writer: TestClient, agent: dict[str, Any]) -> None:
    assert writer.get(f"/api/v1/agents/{agent['id']}").headers["etag"] == '"1"'
    patch(writer, agent, {"temperature": 0.3})
    assert writer.get(f"/api/v1/agents/{agent['id']}").headers["etag"] == '"2"'


def test_an_agent_unchanged_since_if_none_match_answers_304(writer: TestClient, agent: dict[str, Any]) -> None:
    url = f"/api/v1/agents/{agent['id']}"
    for tag in ('"1"', 'W/"1"', "*", '"7", "1"'):
        response = writer.get(url, headers={"If-None-Match": tag})
        assert response.status_code == 304, tag
        assert response.content == b""
        assert response.headers["etag"] == '"1"'


def test_an_agent_changed_since_if_none_match_answers_200(writer: TestClient, agent: dict[str, Any]) -> None:
    patch(writer, agent, {"temperature": 0.3})
    response = writer.get(f"/api/v1/agents/{agent['id']}", headers={"If-None-Match": '"1"'})
    assert response.status_code == 200
    assert response.json()["temperature"] == 0.3
    assert response.headers["etag"] == '"2"'


def test_config_etag_is_its_content_hash_and_answers_304(
    writer: TestClient, service: AgentService, agent: dict[str, Any]
) -> None:
    url = f"/api/v1/agents/{agent['id']}/config"
    content_hash = service.get_config(agent["id"])["content_hash"]
    first = writer.get(url)
    assert first.headers["etag"] == f'"{content_hash}"'
    for tag in (f'"{content_hash}"', f'W/"{content_hash}"', "*", f'"0", "{content_hash}"'):
        response = writer.get(url, headers={"If-None-Match": tag})
        assert response.status_code == 304, tag
        assert response.content == b""
        assert response.headers["etag"] == first.headers["etag"]
        assert response.headers["x-kaizen-agent-revision"] == "1"


def test_config_etag_follows_the_config_not_the_status(writer: TestClient, agent: dict[str, Any]) -> None:
    """An agent runtime reloads when its config changes, not when the agent is archived or activated."""
    url = f"/api/v1/agents/{agent['id']}/config"
    etag = writer.get(url).headers["etag"]
    patch(writer, agent, {"status": "active"})
    unchanged = writer.get(url, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.headers["x-kaizen-agent-revision"] == "2"
    patch(writer, agent, {"temperature": 0.9})
    changed = writer.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.json()["temperature"] == 0.9
    assert changed.headers["etag"] != etag


def test_an_agent_revision_tag_does_not_match_the_config(writer: TestClient, agent: dict[str, Any]) -> None:
    response = writer.get(f"/api/v1/agents/{agent['id']}/config", headers={"If-None-Match": '"1"'})
    assert response.status_code == 200


def test_head_of_an_agent_and_its_config_sends_the_etag_without_a_body(
    writer: TestClient, agent: dict[str, Any]
) -> None:
    for url in (f"/api/v1/agents/{agent['id']}", f"/api/v1/agents/{agent['id']}/config"):
        got = writer.get(url)
        head = writer.head(url)
        assert head.status_code == 200, url
        assert head.content == b""
        assert head.headers["etag"] == got.headers["etag"]
        assert writer.head(url, headers={"If-None-Match": got.headers["etag"]}).status_code == 304
