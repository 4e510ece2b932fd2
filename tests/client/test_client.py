"""``kaizen_tui.client.KaizenClient`` against real ``kaizen-tui serve`` processes (SQLite and PostgreSQL).

What an agent relies on: a fresh copy costs no request; after the TTL one
revalidation (304) keeps it; a label moved on the server is seen, and a copy
is only ever served for the label or version it was fetched for; when the
server is down the last good copy is served with a warning, also after a
restart (``cache_dir``); with nothing cached the error comes at once. A few
answers a real server does not give on demand (503, garbage, a server that
knows no labels) come from a small fake server at the end. The TTL, the retry
interval, ``Retry-After``, the warning's rate and ``max_stale`` pass on a
:class:`FakeClock` the test moves: no test waits for them.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kaizen_tui.client import (
    KaizenAuthError,
    KaizenClient,
    KaizenClientError,
    KaizenDamagedVersion,
    KaizenNotFound,
    KaizenUnavailable,
)
from tests.api.conftest import free_port, stop_server
from tests.client.conftest import PROMPT, Kaizen, config_requests
from tests.support import write_raw_snapshot

CLIENT_LOG = "kaizen_tui.client"


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == CLIENT_LOG and record.levelno == logging.WARNING
    ]


def cache_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if path.suffix == ".json")


class FakeClock:
    """A :class:`kaizen_tui.client.Clock` that stands still until :meth:`advance` moves it.

    Its wall time starts years before the real one, so that a time the client
    does not read from it (a cache file's, left as the file system set it)
    shows in the ages, which come out exact.
    """

    def __init__(self) -> None:
        self.wall = 1_700_000_000.0
        self.ticks = 1000.0

    def monotonic(self) -> float:
        return self.ticks

    def time(self) -> float:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.ticks += seconds
        self.wall += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# -- the import ---------------------------------------------------------------------------


def test_importing_the_client_loads_no_framework_driver_or_other_layer() -> None:
    heavy = (
        "textual",
        "sqlmodel",
        "sqlalchemy",
        "fastapi",
        "starlette",
        "uvicorn",
        "pydantic",
        "psycopg",
        "httpx",
        "yaml",
        "kaizen_tui.service",
        "kaizen_tui.store",
        "kaizen_tui.core",
        "kaizen_tui.api",
        "kaizen_tui.cli",
        "kaizen_tui.tui",
    )
    code = f"import sys, kaizen_tui.client\nprint(sorted(name for name in {heavy!r} if name in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# -- fresh, revalidated, refetched ---------------------------------------------------------


def test_a_fresh_copy_costs_no_request(kaizen: Kaizen) -> None:
    agent = kaizen.agent()
    kaizen.set_label(agent, "production", kaizen.snapshot(agent)["version_number"])
    client = KaizenClient(kaizen.url, kaizen.token, cache_ttl=60)
    first = client.get_config(agent["name"], label="production")
    assert first["system_prompt"] == PROMPT and first["extra"] == {"tools": ["search"]}
    for _ in range(200):
        assert client.get_config(agent["name"], label="production") == first
    entry = client.get_config_entry(agent["name"], label="production")
    assert (entry.source, entry.agent, entry.label, entry.version_number) == ("cache", agent["name"], "production", 1)
    assert entry.content_hash and entry.version_id and entry.error is None and 0 <= entry.age < 60
    assert config_requests(kaizen.shared, agent["name"]) == ["200"]


def test_what_a_caller_changes_in_its_config_does_not_change_the_cache(kaizen: Kaizen) -> None:
    agent = kaizen.agent(extra={"tools": ["search", "calendar"], "limits": {"calls": 3}})
    client = KaizenClient(kaizen.url, kaizen.token)
    mine = client.get_config(agent["id"])
    mine["extra"]["tools"].append("shell")
    mine["extra"]["limits"]["calls"] = 99
    mine["system_prompt"] = "changed"
    again = client.get_config(agent["id"])
    assert again["extra"] == {"tools": ["search", "calendar"], "limits": {"calls": 3}}
    assert again["system_prompt"] == PROMPT
    assert again is not mine and again["extra"] is not mine["extra"]


def test_after_the_ttl_the_copy_is_revalidated_with_one_304(kaizen: Kaizen) -> None:
    agent = kaizen.agent()
    kaizen.snapshot(agent)
    client = KaizenClient(kaizen.url, kaizen.token, cache_ttl=0)  # every call asks
    first = client.get_config_entry(agent["name"], version=1)
    second = client.get_config_entry(agent["name"], version=1)
    assert (first.source, second.source) == ("server", "revalidated")
    assert second.config == first.config and second.content_hash == first.content_hash
    assert second.version_number == 1 and second.checked_at >= first.checked_at
    assert config_requests(kaizen.shared, agent["name"]) == ["200", "304"]


def test_a_moved_label_is_seen_once_the_ttl_has_passed(kaizen: Kaizen, clock: FakeClock) -> None:
    agent = kaizen.agent()
    kaizen.snapshot(agent)
    kaizen.snapshot(agent, system_prompt="Version two.")
    kaizen.set_label(agent, "production", 1)
    client = KaizenClient(kaizen.url, kaizen.token, cache_ttl=60, clock=clock)
    assert client.get_config(agent["name"], label="production")["system_prompt"] == PROMPT
    kaizen.set_label(agent, "production", 2)
    entry = client.get_config_entry(agent["name"], label="production")
    assert entry.source == "cache" and entry.version_number == 1  # within the TTL, as promised
    clock.advance(59.5)
    entry = client.get_config_entry(agent["name"], label="production")
    assert (entry.source, entry.version_number, entry.age) == ("cache", 1, 59.5)
    clock.advance(0.5)
    entry = client.get_config_entry(agent["name"], label="production")
    assert (entry.source, entry.version_number, entry.config["system_prompt"]) == ("server", 2, "Version two.")
    assert config_requests(kaizen.shared, agent["name"]) == ["200", "200"]


def test_two_labels_on_one_version_never_share_a_copy(kaizen: Kaizen) -> None:
    agent = kaizen.agent()
    kaizen.snapshot(agent)
    kaizen.snapshot(agent, system_prompt="Version two.")
    kaizen.set_label(agent, "production", 1)
    kaizen.set_label(agent, "staging", 1)
    client = KaizenClient(kaizen.url, kaizen.token, cache_ttl=0)
    production = client.get_config_entry(agent["name"], label="production")
    staging = client.get_config_entry(agent["name"], label="staging")
    assert production.content_hash == staging.content_hash and staging.label == "staging"
    kaizen.set_label(agent, "staging", 2)
    staging = client.get_config_entry(agent["name"], label="staging")
    production = client.get_config_entry(agent["name"], label="production")
    assert (staging.version_number, staging.config["system_prompt"]) == (2, "Version two.")
    assert (production.version_number, production.config["system_prompt"]) == (1, PROMPT)
    assert production.source == "revalidated" and staging.source == "server"


def test_a_label_moved_to_another_version_with_the_same_content_names_the_new_version(kaizen: Kaizen) -> None:
    """The ETag is the content hash, so the server answers 304; the version it names comes from its headers."""
    agent = kaizen.agent()
    kaizen.snapshot(agent)
    kaizen.snapshot(agent)  # v2: the same content as v1
    kaizen.set_label(agent, "production", 1)
    client = KaizenClient(kaizen.url, kaizen.token, cache_ttl=0)
    assert client.get_config_entry(agent["name"], label="production").version_number == 1
    kaizen.set_label(agent, "production", 2)
    entry = client.get_config_entry(agent["name"], label="production")
    assert (entry.source, entry.version_number, entry.label) == ("revalidated", 2, "production")
    assert config_requests(kaizen.shared, agent["name"]) == ["200", "304"]


def test_live_versions_and_latest_are_copies_of_their_own(kaizen: Kaizen) -> None:
    agent = kaizen.agent()
    kaizen.snapshot(agent)
    kaizen.snapshot(agent, system_prompt="Version two.")
    kaizen.service.update(agent["id"], {"system_prompt": "Unsaved."})
    client = KaizenClient(kaizen.url, kaizen.token, cache_ttl=60)
    assert client.get_config(agent["name"])["system_prompt"] == "Unsaved."
    assert client.get_config(agent["name"], version=1)["system_prompt"] == PROMPT
    assert client.get_config(agent["name"], version="v1")["system_prompt"] == PROMPT  # the same key: no request
    assert client.get_config(agent["name"], version="2")["system_prompt"] == "Version two."
    latest = client.get_config_entry(agent["name"], label="latest")
    assert (latest.label, latest.version_number, latest.config["system_prompt"]) == ("latest", 2, "Version two.")
    assert client.get_config_entry(agent["id"], version=2).version_id is not None
    assert config_requests(kaizen.shared, agent["name"]) == ["200"] * 4


def test_threads_asking_at_once_send_one_request(kaizen: Kaizen) -> None:
    agent = kaizen.agent()
    client = KaizenClient(kaizen.url, kaizen.token, cache_ttl=60)
    start = threading.Barrier(16)
    results: list[Any] = []

    def ask() -> None:
        start.wait()
        try:
            results.append(client.get_config(agent["name"]))
        except Exception as error:  # reported below, not lost in the thread
            results.append(error)

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(isinstance(result, dict) and result["system_prompt"] == PROMPT for result in results), results
    assert len({id(result) for result in results}) == 16  # each thread its own dict
    assert config_requests(kaizen.shared, agent["name"]) == ["200"]
    client.close()


# -- errors the server answers -------------------------------------------------------------


def test_a_removed_label_raises_not_found_and_the_copy_is_forgotten(
    kaizen: Kaizen, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A 404 is the server's answer, not an outage: serving the old copy would hide a deliberate removal."""
    agent = kaizen.agent()
    kaizen.snapshot(agent)
    kaizen.set_label(agent, "canary", 1)
    client = KaizenClient(kaizen.url, kaizen.token, cache_ttl=0, cache_dir=tmp_path / "cache")
    client.get_config(agent["name"], label="canary")
    assert len(cache_files(tmp_path / "cache")) == 1
    kaizen.remove_label(agent, "canary")
    with pytest.raises(KaizenNotFound) as raised:
        client.get_config(agent["name"], label="canary")
    assert raised.value.status == 404 and raised.value.code == "label_not_found"
    assert "canary" in str(raised.value) and kaizen.token not in str(raised.value)
    assert cache_files(tmp_path / "cache") == []  # a restart does not bring it back either
    assert warnings_of(caplog) == []


def test_an_unknown_agent_or_version_raises_not_found(kaizen: Kaizen) -> None:
    agent = kaizen.agent()
    client = KaizenClient(kaizen.url, kaizen.token)
    with pytest.raises(KaizenNotFound) as raised:
        client.get_config("nobody-here", label="production")
    assert raised.value.code == "agent_not_found"
    with pytest.raises(KaizenNotFound) as raised:
        client.get_config(agent["name"], version=7)
    assert raised.value.code == "version_not_found"
    with pytest.raises(KaizenNotFound) as raised:
        client.get_config(agent["name"], label="latest")  # no version yet
    assert raised.value.code == "label_not_found"
    for huge in ("9" * 4400, "v" + "9" * 4400, "0" * 5000 + "7"):  # any length: the server says, no ValueError
        with pytest.raises(KaizenNotFound) as raised:
            client.get_config(agent["name"], version=huge)
        assert raised.value.code == "version_not_found"


def test_a_refused_token_raises_an_auth_error_without_the_token(kaizen: Kaizen) -> None:
    agent = kaizen.agent()
    secret = "kz_not-a-token-anyone-made"
    client = KaizenClient(kaizen.url, secret)
    with pytest.raises(KaizenAuthError) as raised:
        client.get_config(agent["name"])
    assert raised.value.status == 401 and secret not in str(raised.value) and secret not in repr(client)


def test_a_malformed_label_is_the_servers_422(kaizen: Kaizen) -> None:
    agent = kaizen.agent()
    with pytest.raises(KaizenClientError) as raised:
        KaizenClient(kaizen.url, kaizen.token).get_config(agent["name"], label="Production!")
    assert raised.value.status == 422 and not isinstance(raised.value, KaizenUnavailable | KaizenNotFound)


def test_a_label_on_a_damaged_version_raises_a_damaged_version_error_and_the_copy_is_forgotten(
    kaizen: Kaizen, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The label was moved to a version the server cannot read: an error naming it, never the old copy.

    Serving the copy of v1 (now, or after a restart during an outage) would
    hide that the label names a version nobody can run.
    """
    agent = kaizen.agent()
    kaizen.snapshot(agent)
    v2 = kaizen.snapshot(agent, system_prompt="Version two.")
    kaizen.set_label(agent, "staging", 1)
    folder = tmp_path / "cache"
    with kaizen.server() as server:
        url = server.url
        client = KaizenClient(url, kaizen.token, cache_ttl=0, cache_dir=folder)
        assert client.get_config(agent["name"], label="staging")["system_prompt"] == PROMPT
        client.get_config(agent["name"], version=2)
        assert len(cache_files(folder)) == 2
        kaizen.set_label(agent, "staging", 2)
        write_raw_snapshot(kaizen.db, v2["id"])  # as another tool could
        for asked in ({"label": "staging"}, {"version": 2}):
            with pytest.raises(KaizenDamagedVersion) as raised:
                client.get_config(agent["name"], **asked)
            error = raised.value
            assert isinstance(error, KaizenClientError) and not isinstance(error, KaizenNotFound | KaizenUnavailable)
            assert (error.status, error.code) == (409, "damaged_snapshot")
            assert (error.version_number, error.version_id) == (2, v2["id"])
            assert "v2" in str(error) and "damaged" in str(error) and kaizen.token not in str(error)
        assert cache_files(folder) == []
    # With the server down, neither this client nor a new process serves the old copy.
    for process in (client, KaizenClient(url, kaizen.token, cache_dir=folder)):
        with pytest.raises(KaizenUnavailable, match="nothing cached"):
            process.get_config(agent["name"], label="staging")
    assert warnings_of(caplog) == []


# -- the server down -----------------------------------------------------------------------


def test_a_stopped_server_gets_the_stale_copy_with_a_warning_until_it_is_back(
    kaizen: Kaizen, caplog: pytest.LogCaptureFixture, clock: FakeClock
) -> None:
    agent = kaizen.agent()
    kaizen.set_label(agent, "production", kaizen.snapshot(agent)["version_number"])
    caplog.set_level(logging.WARNING, CLIENT_LOG)
    with kaizen.server() as server:
        port = server.port
        client = KaizenClient(server.url, kaizen.token, cache_ttl=0, retry_interval=5, clock=clock)
        good = client.get_config(agent["name"], label="production")
        stop_server(server)
        entry = client.get_config_entry(agent["name"], label="production")
        assert entry.source == "stale" and entry.config == good and entry.version_number == 1
        assert entry.error == "connection refused"
        [warning] = warnings_of(caplog)
        assert agent["name"] in warning and "'production'" in warning and "connection refused" in warning
        assert "last confirmed" in warning and " ago" in warning and kaizen.token not in warning
        # Within retry_interval the copy is served without asking again, and without another warning.
        clock.advance(4.9)
        assert client.get_config_entry(agent["name"], label="production").source == "stale"
        assert len(warnings_of(caplog)) == 1
        # After it the server is asked again; still down, that is said at INFO (a warning at most once a minute).
        caplog.set_level(logging.INFO, CLIENT_LOG)
        clock.advance(0.1)
        assert client.get_config_entry(agent["name"], label="production").source == "stale"
        assert len(warnings_of(caplog)) == 1
        assert sum("connection refused" in record.getMessage() for record in caplog.records) == 2
        # A minute after the first warning, the next failed try warns again.
        clock.advance(54.9)
        assert client.get_config_entry(agent["name"], label="production").source == "stale"
        assert len(warnings_of(caplog)) == 1
        clock.advance(5.1)
        assert client.get_config_entry(agent["name"], label="production").source == "stale"
        assert len(warnings_of(caplog)) == 2 and "last confirmed 65 s ago" in warnings_of(caplog)[1]
    kaizen.set_label(agent, "production", kaizen.snapshot(agent, system_prompt="While it was down.")["version_number"])
    with kaizen.server(port) as server:
        clock.advance(5)
        entry = client.get_config_entry(agent["name"], label="production")
        assert (entry.source, entry.version_number, entry.error) == ("server", 2, None)
        assert entry.config["system_prompt"] == "While it was down."
        assert any("answers again" in record.getMessage() for record in caplog.records)


def test_the_cache_dir_survives_a_restart_while_the_server_is_down(
    kaizen: Kaizen, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    agent = kaizen.agent()
    kaizen.set_label(agent, "production", kaizen.snapshot(agent)["version_number"])
    folder = tmp_path / "agent-cache"
    with kaizen.server() as server:
        before = KaizenClient(server.url, kaizen.token, cache_dir=folder)
        good = before.get_config(agent["name"], label="production")
        before.get_config(agent["name"])  # the live config too: a file each
        before.close()
        url = server.url
    # A new process (a new client) while the server is down.
    caplog.set_level(logging.WARNING, CLIENT_LOG)
    after = KaizenClient(url, kaizen.token, cache_dir=folder)
    entry = after.get_config_entry(agent["name"], label="production")
    assert (entry.source, entry.config, entry.version_number, entry.label) == ("stale", good, 1, "production")
    assert any("connection refused" in warning and "production" in warning for warning in warnings_of(caplog))
    with pytest.raises(KaizenUnavailable):
        after.get_config(agent["name"], label="staging")  # never another label's copy
    with pytest.raises(KaizenUnavailable):
        after.get_config(agent["name"], version=1)  # nor the copy of the version the label named
    # Owner-only files, and no token in them.
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = cache_files(folder)
    assert len(files) == 2
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert kaizen.token.encode() not in path.read_bytes()
    assert [path.name for path in folder.iterdir() if path.name.startswith(".tmp")] == []


def test_a_restarted_client_revalidates_its_file_once_the_server_answers(kaizen: Kaizen, tmp_path: Path) -> None:
    agent = kaizen.agent()
    kaizen.set_label(agent, "production", kaizen.snapshot(agent)["version_number"])
    KaizenClient(kaizen.url, kaizen.token, cache_dir=tmp_path).get_config(agent["name"], label="production")
    entry = KaizenClient(kaizen.url, kaizen.token, cache_dir=tmp_path).get_config_entry(
        agent["name"], label="production"
    )
    assert entry.source == "revalidated" and entry.version_number == 1
    assert config_requests(kaizen.shared, agent["name"]) == ["200", "304"]


#: How the version a label names changes: (the label, whether the new version's content differs).
VERSION_CHANGES = {
    "moved-to-an-equal-version": ("staging", False),
    "latest-after-an-equal-snapshot": ("latest", False),
    "moved-to-another-config": ("staging", True),
}


@pytest.mark.parametrize("restarted", [False, True], ids=["same-client", "client-restarted-before-the-move"])
@pytest.mark.parametrize("change", list(VERSION_CHANGES))
def test_the_version_an_answer_names_is_the_copys_in_memory_and_in_its_file(
    kaizen: Kaizen, tmp_path: Path, caplog: pytest.LogCaptureFixture, change: str, restarted: bool
) -> None:
    """A label moved from v1 to an equal v2 is a 304 naming v2: the file must say v2 too.

    It kept v1, so a process started during an outage served "v1, last
    confirmed 2 s ago" for a label that named v2. The copy revalidated is
    the one in memory, or (``restarted``) the one a new process read from its file.
    """
    label, differs = VERSION_CHANGES[change]
    agent = kaizen.agent()
    v1 = kaizen.snapshot(agent)
    kaizen.set_label(agent, "staging", 1)
    folder = tmp_path / "cache"
    with kaizen.server() as server:
        url = server.url
        client = KaizenClient(url, kaizen.token, cache_ttl=0, cache_dir=folder)
        assert client.get_config_entry(agent["name"], label=label).version_id == v1["id"]
        v2 = kaizen.snapshot(agent, **({"system_prompt": "Version two."} if differs else {}))
        kaizen.set_label(agent, "staging", 2)
        if restarted:
            client = KaizenClient(url, kaizen.token, cache_ttl=0, cache_dir=folder)
        moved = client.get_config_entry(agent["name"], label=label)
        assert (moved.source, moved.version_number, moved.version_id) == (
            "server" if differs else "revalidated",
            2,
            v2["id"],
        )
    caplog.set_level(logging.WARNING, CLIENT_LOG)
    # The server down: this client, and a new process reading the file, serve v2 as the server last named it.
    for process in (client, KaizenClient(url, kaizen.token, cache_dir=folder)):
        entry = process.get_config_entry(agent["name"], label=label)
        assert (entry.source, entry.label, entry.version_number, entry.version_id) == ("stale", label, 2, v2["id"])
        assert (entry.config, entry.content_hash) == (moved.config, moved.content_hash)
    assert [f"'{label}' (v2)" in warning for warning in warnings_of(caplog)] == [True, True]


def test_a_newer_copy_that_cannot_be_written_removes_the_older_file(
    kaizen: Kaizen, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Disk full: the file of v1 must not outlive the answer that replaced it (a restart would serve it)."""
    agent = kaizen.agent()
    kaizen.snapshot(agent)
    kaizen.snapshot(agent)  # v2: equal to v1
    kaizen.set_label(agent, "staging", 1)
    folder = tmp_path / "cache"
    client = KaizenClient(kaizen.url, kaizen.token, cache_ttl=0, cache_dir=folder)
    client.get_config(agent["name"], label="staging")
    [path] = cache_files(folder)

    def disk_full(*args: object, **kwargs: object) -> Any:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("kaizen_tui.client.tempfile", SimpleNamespace(mkstemp=disk_full))
    caplog.set_level(logging.WARNING, CLIENT_LOG)
    kaizen.set_label(agent, "staging", 2)  # a 304 naming v2
    assert client.get_config_entry(agent["name"], label="staging").version_number == 2
    assert cache_files(folder) == []
    kaizen.set_label(agent, "staging", kaizen.snapshot(agent, system_prompt="Version three.")["version_number"])
    assert client.get_config_entry(agent["name"], label="staging").version_number == 3  # a 200, not written
    assert cache_files(folder) == []
    assert len([w for w in warnings_of(caplog) if "cannot write the cache file" in w and "no space" in w]) == 2
    monkeypatch.undo()  # room again: the next answer, a 304, writes the file
    entry = client.get_config_entry(agent["name"], label="staging")
    assert (entry.source, entry.version_number) == ("revalidated", 3)
    assert json.loads(path.read_bytes())["meta"]["version_number"] == 3


def test_nothing_cached_and_the_server_down_is_an_error_at_once(kaizen: Kaizen) -> None:
    with kaizen.server() as server:
        url = server.url
    client = KaizenClient(url, kaizen.token)
    with pytest.raises(KaizenUnavailable) as raised:
        client.get_config("Support Agent", label="production")
    message = str(raised.value)
    assert f"{url}/api/v1/agents/Support%20Agent/config?label=production" in message
    assert "connection refused" in message and "nothing cached" in message and kaizen.token not in message
    assert raised.value.url is not None and raised.value.status is None


def test_a_server_that_accepts_but_never_answers_times_out(tmp_path: Path) -> None:
    """The kernel accepts the connection (the listen backlog) and nobody ever reads it: the read timeout ends it."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        client = KaizenClient(f"http://127.0.0.1:{port}", "kz_secret", connect_timeout=0.5, read_timeout=0.3)
        with pytest.raises(KaizenUnavailable) as raised:
            client.get_config("agent")
        assert "timed out" in str(raised.value) and "kz_secret" not in str(raised.value)


# -- cache files that are not what they should be ------------------------------------------


def test_a_damaged_cache_file_is_ignored_with_a_warning(
    kaizen: Kaizen, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    agent = kaizen.agent()
    KaizenClient(kaizen.url, kaizen.token, cache_dir=tmp_path).get_config(agent["name"])
    [path] = cache_files(tmp_path)
    caplog.set_level(logging.WARNING, CLIENT_LOG)
    good = json.loads(path.read_bytes())
    smuggled = json.dumps({**good, "etag": '"x"\r\nX-Injected: 1'}).encode()  # a header of its own
    damages = (b"", b"{not json", b"[1, 2]", b'{"format": 1}', "\udcff".encode("utf-8", "surrogatepass"), smuggled)
    for damage in damages:
        path.write_bytes(damage)
        client = KaizenClient(kaizen.url, kaizen.token, cache_dir=tmp_path)
        assert client.get_config(agent["name"])["system_prompt"] == PROMPT  # fetched again, the file rewritten
        assert json.loads(path.read_bytes())["config"]["system_prompt"] == PROMPT
    assert len([w for w in warnings_of(caplog) if "ignoring the damaged cache file" in w]) == len(damages)
    # And with the server down: an error, not a crash nor the damaged content.
    path.write_bytes(b'{"format": 1, "key": "nonsense"')
    with kaizen.server() as server:
        url = server.url
    with pytest.raises(KaizenUnavailable):
        KaizenClient(url, kaizen.token, cache_dir=tmp_path).get_config(agent["name"])


def test_a_cache_file_holding_another_keys_copy_is_never_served(
    kaizen: Kaizen, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    agent = kaizen.agent()
    kaizen.snapshot(agent)
    kaizen.set_label(agent, "production", 1)
    kaizen.set_label(agent, "staging", 1)
    with kaizen.server() as server:
        url = server.url
        client = KaizenClient(url, kaizen.token, cache_dir=tmp_path)
        client.get_config(agent["name"], label="production")
        [production] = cache_files(tmp_path)
        client.get_config(agent["name"], label="staging")
        [staging] = [path for path in cache_files(tmp_path) if path != production]
    staging.write_bytes(production.read_bytes())  # a file copied over another
    with pytest.raises(KaizenUnavailable):
        KaizenClient(url, kaizen.token, cache_dir=tmp_path).get_config(agent["name"], label="staging")
    assert any("another key" in warning for warning in warnings_of(caplog))
    # Nor another server's: the base URL is part of the key.
    with pytest.raises(KaizenUnavailable):
        KaizenClient(f"http://127.0.0.1:{free_port()}", kaizen.token, cache_dir=tmp_path).get_config(
            agent["name"], label="production"
        )


# -- arguments -----------------------------------------------------------------------------


def test_arguments_are_checked_and_the_token_never_shown() -> None:
    with pytest.raises(ValueError, match="base_url"):
        KaizenClient("localhost:8700", "kz_secret")
    with pytest.raises(ValueError, match="token"):
        KaizenClient("http://localhost:8700", "")
    with pytest.raises(ValueError, match="cache_ttl"):
        KaizenClient("http://localhost:8700", "kz_secret", cache_ttl=-1)
    client = KaizenClient("http://user:pw@localhost:8700/kaizen/", "kz_secret")
    assert client.base_url == "http://localhost:8700/kaizen"
    assert "kz_secret" not in repr(client) and "pw" not in repr(client)
    with pytest.raises(ValueError, match="not both"):
        client.get_config("agent", label="production", version=3)
    with pytest.raises(ValueError, match="version numbers start at 1"):
        client.get_config("agent", version=0)
    with pytest.raises(ValueError, match="agent"):
        client.get_config("")


# -- answers a real server does not give on demand -----------------------------------------


class FakeServer:
    """A loopback HTTP server answering every GET with the next canned ``(status, headers, body)``."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, str], bytes]] = []
        self.requests: list[dict[str, str]] = []
        self.connections = 0
        self.timeout: float | None = None
        #: Set when the server has closed a connection (after its idle timeout, say).
        self.closed = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                fake.connections += 1
                self.timeout = fake.timeout  # an idle connection is closed after this long
                super().setup()

            def do_GET(self) -> None:
                fake.requests.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
                status, headers, body = fake.answers.pop(0) if fake.answers else (500, {}, b"")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def shutdown_request(self, request: Any) -> None:
                super().shutdown_request(request)
                fake.closed.set()

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        # Checks for shutdown every 10 ms (the default 0.5 s was each test's teardown).
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    def idle_timeout(self, seconds: float) -> None:
        self.timeout = seconds

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    server = FakeServer()
    yield server
    server.close()


CONFIG = {"name": "a", "model_id": "m", "system_prompt": "p", "extra": {"tools": ["t"]}}
LABELLED = {"ETag": '"h1"', "X-Kaizen-Version": "3", "X-Kaizen-Version-Id": "ver-3", "X-Kaizen-Label": "production"}


def test_a_503_serves_the_stale_copy_and_its_retry_after_is_honoured(
    fake: FakeServer, caplog: pytest.LogCaptureFixture, clock: FakeClock
) -> None:
    fake.answers = [
        (200, {**LABELLED, "Content-Type": "application/json"}, json.dumps(CONFIG).encode()),
        (503, {"Retry-After": "30", "Content-Type": "application/problem+json"},
         b'{"status": 503, "code": "database_busy", "detail": "The database is busy."}'),
        (304, LABELLED, b""),
    ]  # fmt: skip
    client = KaizenClient(fake.url, "kz_secret", cache_ttl=0, retry_interval=5, clock=clock)
    assert client.get_config("a", label="production") == CONFIG
    entry = client.get_config_entry("a", label="production")
    assert entry.source == "stale" and "database_busy" in (entry.error or "") and entry.version_number == 3
    clock.advance(29.9)  # past retry_interval, within Retry-After: no request
    assert client.get_config("a", label="production") == CONFIG
    assert len(fake.requests) == 2
    assert fake.requests[1]["if-none-match"] == '"h1"' and fake.requests[1]["authorization"] == "Bearer kz_secret"
    assert fake.requests[0]["path"] == "/api/v1/agents/a/config?label=production"
    assert any("30 s" in warning and "database is busy" in warning.lower() for warning in warnings_of(caplog))
    clock.advance(0.1)  # Retry-After has passed: asked again
    entry = client.get_config_entry("a", label="production")
    assert (entry.source, entry.error, len(fake.requests)) == ("revalidated", None, 3)


def test_max_stale_bounds_the_age_of_the_copy_served_from_memory_and_from_its_file(
    fake: FakeServer, tmp_path: Path, clock: FakeClock
) -> None:
    """The age counts from the server's last confirmation (a 200 or a 304), also across a restart (the file's time)."""
    fake.answers = [(200, LABELLED, json.dumps(CONFIG).encode()), (500, {}, b""), (500, {}, b""), (304, LABELLED, b"")]
    client = KaizenClient(fake.url, "kz_secret", cache_ttl=0, retry_interval=5, cache_dir=tmp_path, clock=clock)
    assert client.get_config_entry("a", label="production").source == "server"
    clock.advance(3598)
    bounded = KaizenClient(fake.url, "kz_secret", cache_ttl=0, max_stale=3600, cache_dir=tmp_path, clock=clock)
    restarted = bounded.get_config_entry("a", label="production")  # read from the file, the server failing
    assert (restarted.source, restarted.config, restarted.age) == ("stale", CONFIG, 3598)
    clock.advance(2.5)  # within retry_interval, but past max_stale: the server is asked again, and fails
    with pytest.raises(KaizenUnavailable, match=r"the cached copy is 60 min old, over max_stale \(60 min\)"):
        bounded.get_config("a", label="production")
    assert len(fake.requests) == 3
    assert client.get_config_entry("a", label="production").source == "revalidated"  # the 304: confirmed now
    clock.advance(3000)
    entry = KaizenClient(fake.url, "kz_secret", max_stale=3600, cache_dir=tmp_path, clock=clock).get_config_entry(
        "a", label="production"
    )
    assert (entry.source, entry.age) == ("stale", 3000)
    # Without max_stale, any age is served.
    clock.advance(86400)
    assert client.get_config_entry("a", label="production").age == 3000 + 86400


def test_nothing_cached_and_a_503_is_unavailable_with_the_retry_after(fake: FakeServer) -> None:
    fake.answers = [(503, {"Retry-After": "2"}, b'{"code": "database_unavailable", "detail": "Down."}')]
    with pytest.raises(KaizenUnavailable) as raised:
        KaizenClient(fake.url, "kz_secret").get_config("a")
    assert (raised.value.status, raised.value.code, raised.value.retry_after) == (503, "database_unavailable", 2.0)


def test_garbage_from_the_server_counts_as_a_failure(fake: FakeServer) -> None:
    fake.answers = [
        (200, {"ETag": '"h1"'}, json.dumps(CONFIG).encode()),
        (200, {"ETag": '"h2"', "Content-Type": "text/html"}, b"<html>captive portal</html>"),
        (302, {"Location": "https://login.example.com/"}, b""),
        (200, {"ETag": '"h3"'}, b'["a list"]'),
    ]
    client = KaizenClient(fake.url, "kz_secret", cache_ttl=0, retry_interval=0)
    assert client.get_config("a") == CONFIG
    errors = [client.get_config_entry("a") for _ in range(3)]
    assert all(entry.source == "stale" and entry.config == CONFIG for entry in errors)
    assert [entry.error for entry in errors] == [
        "the server's answer is not JSON",
        f"(HTTP 302 from GET {fake.url}/api/v1/agents/a/config)",
        "the server's answer is not a JSON object",
    ]


def test_a_server_that_ignores_the_label_is_never_cached_as_that_label(fake: FakeServer) -> None:
    """A server from before labels answers ``?label=`` with the live config: that must not pass for production."""
    fake.answers = [(200, {"ETag": '"live"'}, json.dumps(CONFIG).encode())] * 2
    client = KaizenClient(fake.url, "kz_secret", cache_ttl=60)
    with pytest.raises(KaizenUnavailable, match="asked for the label 'production'"):
        client.get_config("a", label="production")
    with pytest.raises(KaizenUnavailable, match="asked for version 4"):
        client.get_config("a", version=4)


@pytest.mark.parametrize("noticed", [True, False], ids=["seen-before-sending", "seen-when-sending"])
def test_a_connection_the_server_closed_while_idle_is_opened_again(
    fake: FakeServer, noticed: bool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """uvicorn closes a keep-alive connection idle for 5 s; a client with a longer TTL finds it closed.

    Either the client sees the end of the stream before sending (``noticed``),
    or its request meets the closed connection and is sent once more on a new one.
    """
    fake.idle_timeout(0.1)
    if not noticed:
        monkeypatch.setattr("kaizen_tui.client._Connection.dropped", lambda self: False)
    fake.answers = [(200, {"ETag": '"h1"'}, json.dumps(CONFIG).encode()), (304, {"ETag": '"h1"'}, b"")]
    client = KaizenClient(fake.url, "kz_secret", cache_ttl=0)
    client.get_config("a")
    assert fake.closed.wait(10)  # the fake server closed the idle connection
    entry = client.get_config_entry("a")
    assert (entry.source, entry.error) == ("revalidated", None)
    assert fake.connections == 2 and warnings_of(caplog) == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX")
def test_a_forked_child_gets_a_connection_of_its_own(kaizen: Kaizen) -> None:
    """A worker forked after the parent fetched (gunicorn, celery) must not speak on the parent's socket."""
    agent = kaizen.agent()
    client = KaizenClient(kaizen.url, kaizen.token, cache_ttl=0)
    client.get_config(agent["name"])
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child reports through the pipe)
        try:
            entry = client.get_config_entry(agent["name"])
            os.write(write_end, f"{entry.source} {entry.config['system_prompt'] == PROMPT}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        said = pipe.read().decode()
    os.waitpid(child, 0)
    assert said == "revalidated True"
    assert client.get_config_entry(agent["name"]).source == "revalidated"
    assert config_requests(kaizen.shared, agent["name"]) == ["200", "304", "304"]
