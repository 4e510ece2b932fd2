"""The client agents run: their config from ``kaizen-tui serve``, cached, and never broken by an outage.

::

    from kaizen_tui.client import KaizenClient

    kaizen = KaizenClient("http://kaizen.internal:8700", token, cache_dir="/var/cache/my-agent")
    config = kaizen.get_config("Support Agent", label="production")

Standard library only (``http.client``): importing this module loads neither
Textual nor a database driver nor FastAPI, and it needs none of kaizen-tui's
dependencies, so a slim agent container can install the wheel alone
(``pip install --no-deps kaizen-tui``).

The cache, per ``(base URL, agent, label | version | live)``:

- **Fresh** for ``cache_ttl`` seconds after the server last confirmed it: a
  call is a dictionary look-up and a clock read, no I/O (about a microsecond,
  plus copying the config: see below).
- **Then revalidated** with the ETag (the content hash): an unchanged config
  costs one small ``304`` response; a changed one is fetched whole. Threads
  asking for the same key at once send one request between them.
- **Stale-if-error**: when the server cannot be reached, times out, answers
  5xx, 408 or 429, or sends something that is not a valid answer, the last
  good copy is served and a warning is logged (the agent, the label or
  version, the error and the copy's age; repeated at most once a minute
  while the outage lasts, at INFO in between). The server is asked again
  after ``retry_interval`` seconds (or its ``Retry-After``); calls in
  between get the copy without waiting. ``max_stale`` bounds how old a copy
  may be served (default: any age).
- **An answer is not an error**: a 404 for the agent, label or version (the
  label was removed, the agent deleted) raises :class:`KaizenNotFound` and
  forgets the cached copy, in memory and on disk. Serving the old copy would
  hide a deliberate change and keep the agent on a config nobody can see any
  more under that name. A refused token (401, 403) raises
  :class:`KaizenAuthError` (the copy is kept: the content is still right, the
  access is not); another 4xx raises :class:`KaizenClientError`.
- **A damaged version is an answer too**: when the label names (or the
  version asked for is) a version whose stored snapshot the server cannot
  read, the server answers 409 ``damaged_snapshot`` and the client raises
  :class:`KaizenDamagedVersion` (naming the version) and forgets the copy,
  as for a 404: the label was moved to (or left on) a version nobody can
  run, and serving the old copy, now or after a restart, would hide it.
- **Never another key's copy, nor another version's identity**: each answer
  is checked to be of the label or version asked for (a server too old to
  know labels answers with the live config: that is refused, not cached).
  The version an answer names is the copy's, in memory and in its file: a
  304 for a label moved to another version with the same content takes the
  version the server names now, and its file is rewritten to say so (a
  restart during an outage then serves it as that version). Files on disk
  carry their key and are used only for it.
- ``cache_dir``: each key's last good copy is one file (``0600``; a
  directory it makes is ``0700``), written atomically, with its ETag and fetch
  time, and read the first time that key is asked for. A process that starts
  while the server is down serves it (with a warning); once the server
  answers, it is revalidated. A damaged file is ignored with a warning; when
  a newer copy cannot be written (disk full), the older file is removed. The
  token is never written anywhere, nor put in a message.
- Nothing cached and the server down: :class:`KaizenUnavailable` at once
  (connection refused), or after ``connect_timeout`` / ``read_timeout`` at most.
- ``clock``: where the cache reads the time (:class:`Clock`: ``monotonic()``
  for the TTL, the retry interval, ``Retry-After`` and the stale warning's
  once a minute; ``time()`` for a copy's age, ``max_stale`` and the cache
  files' times). The ``time`` module by default; a test passes one it moves
  by hand instead of waiting. Network timeouts stay on the real clock.

``get_config`` returns a new dict each call: the cached config's nested
dicts and lists are copied (strings and numbers are immutable and shared), so
a caller may change what it got without changing the cache. That costs about
a microsecond for a typical config, against 5-10 µs for ``copy.deepcopy`` or
``json.loads`` of the cached bytes (``bench/client.py`` measures the three).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import math
import os
import select
import socket
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import quote, urlsplit

from kaizen_tui import __version__

__all__ = [
    "Clock",
    "ConfigEntry",
    "KaizenAuthError",
    "KaizenClient",
    "KaizenClientError",
    "KaizenDamagedVersion",
    "KaizenNotFound",
    "KaizenUnavailable",
]

log = logging.getLogger("kaizen_tui.client")

DEFAULT_CACHE_TTL: Final = 60.0
DEFAULT_CONNECT_TIMEOUT: Final = 2.0
DEFAULT_READ_TIMEOUT: Final = 5.0
#: After a failed check, how long the stale copy is served before the server is asked again.
DEFAULT_RETRY_INTERVAL: Final = 5.0
#: The longest wait a server's ``Retry-After`` may impose before the next check.
MAX_RETRY_AFTER: Final = 300.0
#: While the server keeps failing, how often the warning that a key's copy is served stale is repeated.
WARN_EVERY: Final = 60.0
#: The version of the cache files' layout; a file of another is ignored.
CACHE_FORMAT: Final = 1
#: 404 codes that say what was asked for does not exist (any more): an answer, not an outage.
GONE_CODES: Final = frozenset({"agent_not_found", "label_not_found", "version_not_found", "version_of_another_agent"})
#: The code of a 409 that says the version asked for (or named by the label) cannot be read on the server.
DAMAGED_CODE: Final = "damaged_snapshot"
#: Statuses that say the server is failing or overloaded: the stale copy is served.
RETRYABLE_STATUSES: Final = frozenset({408, 429})
#: What the server's headers say of a config: ``X-Kaizen-Label``, ``X-Kaizen-Version-Id``, ``X-Kaizen-Version``, ``ETag``.
META_KEYS: Final = ("label", "version_id", "version_number", "content_hash")

_HAS_POLL: Final = hasattr(select, "poll")
_CONTAINERS: Final = frozenset((dict, list))


class Clock(Protocol):
    """Where a :class:`KaizenClient` reads the time. The ``time`` module is one (the default).

    ``monotonic()`` decides when a copy is fresh, when to ask a failing server
    again and when to repeat the warning; ``time()`` (seconds since the epoch)
    is when the server confirmed a copy, what its age, ``max_stale`` and the
    cache files' times count from. A test's clock moves both by hand.
    """

    def monotonic(self) -> float: ...

    def time(self) -> float: ...


# -- errors ---------------------------------------------------------------------------


class KaizenClientError(Exception):
    """The config could not be had. ``status`` and ``code`` are the server's, when it answered."""

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.url = url
        self.status = status
        self.code = code


class KaizenUnavailable(KaizenClientError):
    """The server could not be reached or failed, and no usable copy was cached."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message, url=url, status=status, code=code)
        self.retry_after = retry_after


class KaizenNotFound(KaizenClientError):
    """The server says the agent, label or version does not exist (404); any cached copy was forgotten."""


class KaizenAuthError(KaizenClientError):
    """The token was refused (401: unknown or revoked; 403: its role may not read)."""


class KaizenDamagedVersion(KaizenClientError):
    """The version asked for, or the one the label names, is damaged on the server (409 ``damaged_snapshot``).

    Its stored snapshot cannot be read as a config (another tool wrote it,
    or the database was damaged), so the server cannot serve it. The cached
    copy of that label or version was forgotten, in memory and on disk, as
    for :class:`KaizenNotFound`: the label now names a version nobody can
    run, and an agent quietly running the old copy would hide that. Each
    call asks the server again, so the error ends once the label is moved
    to a good version. ``version_number`` and ``version_id`` name the
    damaged version (None from a server that does not say).
    """

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        code: str | None = None,
        version_number: int | None = None,
        version_id: str | None = None,
    ):
        super().__init__(message, url=url, status=status, code=code)
        self.version_number = version_number
        self.version_id = version_id


# -- what the cache holds -------------------------------------------------------------


class _OnAClock:
    """A slot for the clock an entry's ``age`` is read on: not a field (no constructor argument, no JSON)."""

    __slots__ = ("_clock",)


@dataclass(frozen=True, slots=True)
class ConfigEntry(_OnAClock):
    """A config with what the server said of it, and where this answer came from.

    ``source``: ``"cache"`` (a fresh copy, no request), ``"server"`` (fetched
    now), ``"revalidated"`` (the server confirmed the copy: 304) or
    ``"stale"`` (the server failed; ``error`` says how, and the copy is the
    last one it confirmed, ``age`` seconds ago). ``agent`` is the agent as
    asked for (id or name); ``label`` is None unless a label was asked for,
    and the version keys are None for the live config.
    """

    agent: str
    label: str | None
    version_id: str | None
    version_number: int | None
    content_hash: str | None
    config: dict[str, Any]
    fetched_at: float
    checked_at: float
    source: str
    error: str | None = None

    @property
    def age(self) -> float:
        """Seconds since the server last confirmed this content, on the clock of the client that made the entry."""
        clock: Clock = getattr(self, "_clock", time)  # a copy or an entry made by hand has none: the real one
        return max(0.0, clock.time() - self.checked_at)


def _copy_dict(value: dict[str, Any]) -> dict[str, Any]:
    return {
        key: item if type(item) not in _CONTAINERS else (_copy_dict(item) if type(item) is dict else _copy_list(item))
        for key, item in value.items()
    }


def _copy_list(value: list[Any]) -> list[Any]:
    return [
        item if type(item) not in _CONTAINERS else (_copy_dict(item) if type(item) is dict else _copy_list(item))
        for item in value
    ]


class _Cached:
    """One key's last good copy. Never changed once made (a refresh makes a new one), so readers need no lock."""

    __slots__ = (
        "checked_at",
        "config",
        "containers",
        "error",
        "etag",
        "fetched_at",
        "fresh_until",
        "meta",
        "path",
        "warned",
    )

    def __init__(
        self,
        meta: dict[str, Any],
        config: dict[str, Any],
        etag: str | None,
        fetched_at: float,
        checked_at: float,
        fresh_until: float,
        error: str | None = None,
        path: Path | None = None,
        warned: float | None = None,
    ) -> None:
        self.meta = meta
        self.config = config
        #: The top-level keys whose values are dicts or lists: the only ones a copy must copy.
        self.containers = tuple(key for key, item in config.items() if type(item) in _CONTAINERS)
        self.etag = etag
        self.fetched_at = fetched_at
        self.checked_at = checked_at
        self.fresh_until = fresh_until
        self.error = error
        self.path = path
        #: When (monotonic) a warning last said this key's copy is served stale; None while the server answers.
        self.warned = warned

    def copy_config(self) -> dict[str, Any]:
        """The config, for a caller to keep and change: nested dicts and lists copied, the rest shared (immutable)."""
        config = self.config
        copied = config.copy()
        for key in self.containers:
            item = config[key]
            copied[key] = _copy_dict(item) if type(item) is dict else _copy_list(item)
        return copied

    def replaced(self, **changes: Any) -> _Cached:
        fields = {name: getattr(self, name) for name in _Cached.__slots__ if name != "containers"}
        fields.update(changes)
        return _Cached(**fields)

    def entry(self, agent: str, source: str, clock: Clock, error: str | None = None) -> ConfigEntry:
        meta = self.meta
        entry = ConfigEntry(
            agent=agent,
            label=meta.get("label"),
            version_id=meta.get("version_id"),
            version_number=meta.get("version_number"),
            content_hash=meta.get("content_hash"),
            config=self.copy_config(),
            fetched_at=self.fetched_at,
            checked_at=self.checked_at,
            source=source,
            error=error,
        )
        object.__setattr__(entry, "_clock", clock)
        return entry


# -- the wire -------------------------------------------------------------------------


class _Failure(Exception):
    """The server could not give an answer (unreachable, timed out, 5xx, garbage): a stale copy may stand in."""

    def __init__(
        self, reason: str, *, status: int | None = None, code: str | None = None, retry_after: float | None = None
    ):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.code = code
        self.retry_after = retry_after


@dataclass(slots=True)
class _Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


class _Connection:
    """One thread's kept-alive connection, and whether it has carried a request yet."""

    __slots__ = ("__weakref__", "http", "pid", "used")

    def __init__(self, connection: http.client.HTTPConnection) -> None:
        self.http = connection
        self.pid = os.getpid()
        self.used = False

    def dropped(self) -> bool:
        """The server closed it while idle (uvicorn does after 5 s): readable with nothing asked means EOF."""
        sock = self.http.sock
        if sock is None:
            return True
        try:
            if _HAS_POLL:
                poller = select.poll()
                poller.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
                return bool(poller.poll(0))
            return bool(select.select([sock], [], [], 0)[0])  # Windows
        except (OSError, ValueError):
            return True


# Errors on a reused connection that mean the server had closed it: worth one retry on a new one.
_CLOSED_ERRORS = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, http.client.BadStatusLine)


def _describe(error: BaseException) -> str:
    """An error of the socket layer as a short sentence (never a header, so never the token)."""
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the host ({error.strerror or error})"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror[0].lower() + error.strerror[1:]
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _retry_after(headers: http.client.HTTPMessage) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # an HTTP date: rare from our server; the default interval stands
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _problem(body: bytes) -> dict[str, Any]:
    """The members of a problem+json body (empty when it is not one)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _text_of(problem: dict[str, Any], name: str) -> str | None:
    value = problem.get(name)
    return value if isinstance(value, str) else None


def _version_key(version: object) -> str:
    """A version as the cache keys it: ``3``, ``"3"`` and ``"v3"`` are one; an id stays as it is."""
    if isinstance(version, bool) or not isinstance(version, int | str):
        raise TypeError(f"version must be a number or a version id, not {type(version).__name__}")
    if isinstance(version, int):
        if version < 1:
            raise ValueError(f"version numbers start at 1, not {version}")
        return str(version)
    text = version.strip()
    if text[:1] in ("v", "V") and _is_digits(text[1:]):
        text = text[1:]
    if not text:
        raise ValueError("version must not be empty")
    if _is_digits(text):
        return text.lstrip("0") or "0"  # "03" is 3, and no length is too long (int() stops at 4,300 digits)
    return text


def _is_digits(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also says yes to ``²``, which ``int()`` refuses."""
    return text.isascii() and text.isdigit()


def _int_or_none(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    return int(value) if _is_digits(value) and len(value) <= 19 else None


# -- the client -----------------------------------------------------------------------


class KaizenClient:
    """Configs from a kaizen-tui server, for agents: cached, revalidated, served stale when the server fails.

    ``base_url`` is the server (``http://host:8700``, or ``https://...``, with
    a path prefix if a proxy adds one); ``token`` a token of role ``read`` or
    more (``kaizen-tui token create NAME --role read``). ``cache_ttl``: seconds
    a copy is used without asking the server (0: ask on every call; the
    answer is still a 304 when unchanged). ``cache_dir``: keep the last good
    copies in files, so an agent starts while the server is down.
    ``connect_timeout`` / ``read_timeout``: seconds before a server that does
    not answer counts as down. ``retry_interval``: after a failed check, how
    long the stale copy is served before asking again (a ``Retry-After`` from
    the server wins, up to 5 minutes). ``max_stale``: the oldest copy (seconds
    since the server last confirmed it) served when the server fails; None
    for any. ``ssl_context`` for ``https`` with a private CA. ``clock``: where
    the cache reads the time (:class:`Clock`; the ``time`` module when None).

    Safe to share between threads: each thread keeps one connection of its
    own, and a thread that finds a copy fresh takes no lock. The module's
    docstring says what the cache promises.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        cache_ttl: float = DEFAULT_CACHE_TTL,
        cache_dir: str | os.PathLike[str] | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        retry_interval: float = DEFAULT_RETRY_INTERVAL,
        max_stale: float | None = None,
        ssl_context: Any = None,
        clock: Clock | None = None,
    ) -> None:
        parts = urlsplit(base_url.strip() if isinstance(base_url, str) else "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be http://HOST[:PORT] or https://..., not {base_url!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"base_url takes no query or fragment: {base_url!r}")
        if not isinstance(token, str) or not token.strip():
            raise ValueError("token must be a kaizen-tui API token (kaizen-tui token create NAME --role read)")
        if any(char in token for char in "\r\n\0"):
            raise ValueError("token must be one line")  # never echo it
        for name, value in (
            ("cache_ttl", cache_ttl),
            ("connect_timeout", connect_timeout),
            ("read_timeout", read_timeout),
            ("retry_interval", retry_interval),
        ):
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a number of seconds >= 0, not {value!r}")
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ValueError("connect_timeout and read_timeout must be more than 0 seconds")
        if max_stale is not None and (not isinstance(max_stale, int | float) or max_stale < 0):
            raise ValueError(f"max_stale must be a number of seconds >= 0 or None, not {max_stale!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        #: The server, as keys and messages name it (no user info, which could hold a secret).
        host = f"[{self._host}]" if ":" in self._host else self._host
        self.base_url = f"{parts.scheme}://{host}:{self._port}{self._prefix}"
        self.cache_ttl = float(cache_ttl)
        self.connect_timeout = float(connect_timeout)
        self.read_timeout = float(read_timeout)
        self.retry_interval = float(retry_interval)
        self.max_stale = None if max_stale is None else float(max_stale)
        self._ssl_context = ssl_context
        self.clock: Clock = time if clock is None else clock
        # Bound once: a fresh copy's check is one call, as cheap as time.monotonic itself.
        self._monotonic = self.clock.monotonic
        self._time = self.clock.time
        self._headers = {
            "Authorization": f"Bearer {token.strip()}",
            "Accept": "application/json",
            "User-Agent": f"kaizen-tui-client/{__version__}",
        }
        self._memory: dict[tuple[str, str | None, str | None], _Cached] = {}
        self._key_locks: dict[tuple[str, str | None, str | None], threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._local = threading.local()
        #: Every thread's connection, for close(); weakly, so a finished thread's goes with it.
        self._connections: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self.cache_dir: Path | None = None
        if cache_dir is not None:
            folder = Path(cache_dir).expanduser()
            try:
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as error:
                raise KaizenClientError(f"Cannot make the cache folder {folder}: {_describe(error)}") from None
            self.cache_dir = folder
        _clients.add(self)

    def _after_fork(self) -> None:
        """In a forked child: new locks (another thread may have held one at the fork) and no parent connection."""
        self._locks_guard = threading.Lock()
        self._key_locks = {}
        self._local = threading.local()
        self._connections = weakref.WeakSet()

    def __repr__(self) -> str:
        return f"KaizenClient({self.base_url!r}, cache_ttl={self.cache_ttl}, cache_dir={self.cache_dir})"

    def __enter__(self) -> KaizenClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def clear_cache(self) -> None:
        """Forget the copies held in memory: the next call of each key asks the server.

        Files in ``cache_dir`` stay: a key's file is read again on its next
        call, to be revalidated (or served if the server is down).
        """
        self._memory.clear()

    def close(self) -> None:
        """Close every thread's connection. The client still works after: it connects again when asked."""
        with self._locks_guard:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            connection.http.close()

    # -- reading configs

    def get_config(self, agent: str, *, label: str | None = None, version: int | str | None = None) -> dict[str, Any]:
        """The config of ``agent`` (id or name): of ``label`` (``production``, ``latest``...), of
        ``version`` (number or id), or the live config when neither is given. A new dict, the caller's to change.

        Raises :class:`KaizenNotFound` (no such agent, label or version),
        :class:`KaizenDamagedVersion` (the version, or the one the label names, cannot be read on the server),
        :class:`KaizenAuthError` (token refused), :class:`KaizenUnavailable`
        (server down or failing and nothing usable cached), :class:`KaizenClientError`
        (anything else the server refused). See the module's docstring for the cache.
        """
        if version is not None:
            version = _version_key(version)
        cached = self._memory.get((agent, label, version))
        if cached is not None and self._monotonic() < cached.fresh_until:
            return cached.copy_config()
        return self._refresh(agent, label, version)[0].copy_config()

    def get_config_entry(
        self, agent: str, *, label: str | None = None, version: int | str | None = None
    ) -> ConfigEntry:
        """As :meth:`get_config`, with the version served, its content hash and where it came from (:class:`ConfigEntry`)."""
        if version is not None:
            version = _version_key(version)
        cached = self._memory.get((agent, label, version))
        if cached is not None and self._monotonic() < cached.fresh_until:
            return cached.entry(agent, "stale" if cached.error else "cache", self.clock, cached.error)
        found, source = self._refresh(agent, label, version)
        return found.entry(agent, source, self.clock, found.error)

    # -- the slow path: one request per key at a time

    def _refresh(self, agent: str, label: str | None, version: str | None) -> tuple[_Cached, str]:
        if not isinstance(agent, str) or not agent:
            raise ValueError(f"agent must be an agent's id or name, not {agent!r}")
        if label is not None:
            if version is not None:
                raise ValueError("give a label or a version, not both")
            if not isinstance(label, str) or not label:
                raise ValueError(f"label must be a label's name (such as production), not {label!r}")
        key = (agent, label, version)
        # Every answer (or failure) stores a new copy: another one once the lock is had means another thread
        # asked the server while this one waited, and its answer is this one's too. (Not a time: a clock
        # that has not moved, coarse or a test's, would make every call after the first look answered.)
        seen = self._memory.get(key)
        with self._lock_of(key):
            cached = self._memory.get(key)
            if cached is not None and (cached is not seen or self._monotonic() < cached.fresh_until):
                return cached, "stale" if cached.error else "cache"
            if cached is None and self.cache_dir is not None:
                cached = self._load(key)
            path = self._path(agent, label, version)
            url = self.base_url + path
            try:
                response = self._request(path, cached.etag if cached is not None else None)
                fresh, source = self._answer(key, url, cached, response)
            except _Failure as failure:
                return self._stale(key, url, cached, failure), "stale"
            if cached is not None and cached.error is not None:
                log.info("kaizen: %s answers again (%s)", url, source)
            self._memory[key] = fresh
            return fresh, source

    def _lock_of(self, key: tuple[str, str | None, str | None]) -> threading.Lock:
        lock = self._key_locks.get(key)
        if lock is None:
            with self._locks_guard:
                lock = self._key_locks.setdefault(key, threading.Lock())
        return lock

    def _path(self, agent: str, label: str | None, version: str | None) -> str:
        path = f"{self._prefix}/api/v1/agents/{quote(agent, safe='')}/config"
        if label is not None:
            return f"{path}?label={quote(label, safe='')}"
        if version is not None:
            return f"{path}?version={quote(version, safe='')}"
        return path

    def _answer(
        self, key: tuple[str, str | None, str | None], url: str, cached: _Cached | None, response: _Response
    ) -> tuple[_Cached, str]:
        """The new copy from a response, or the error it means (:class:`_Failure` when a stale copy may stand in)."""
        status, headers = response.status, response.headers
        now_wall, now = self._time(), self._monotonic()
        if status == 304 and cached is not None:
            meta = self._checked_meta(key, dict(cached.meta), headers)
            confirmed = cached.replaced(
                meta=meta, checked_at=now_wall, fresh_until=now + self.cache_ttl, error=None, warned=None
            )
            if self.cache_dir is not None and (meta != cached.meta or cached.path is None):
                # The same content under another version (a label moved to an equal one): the file says so too,
                # or a restart would serve it as the version it was before. (No file: the last write failed.)
                confirmed.path = self._save(key, confirmed)
            elif cached.path is not None:
                self._touch(cached.path, now_wall)
            return confirmed, "revalidated"
        if status == 200:
            meta, config = self._parse(key, response)
            etag = headers.get("etag")
            fresh = _Cached(meta, config, etag, now_wall, now_wall, now + self.cache_ttl)
            if self.cache_dir is not None:
                fresh.path = self._save(key, fresh)
            return fresh, "server"
        problem = _problem(response.body)
        code, detail = _text_of(problem, "code"), _text_of(problem, "detail")
        said = f"{detail} " if detail else ""
        where = f"(HTTP {status}{' ' + code if code else ''} from GET {url})"
        if status >= 500 or status in RETRYABLE_STATUSES or status < 400:  # 5xx, overload, 3xx, 2xx but 200
            reason = f"{said}{where}" if status != 304 else f"an unasked-for 304 {where}"
            raise _Failure(reason, status=status, code=code, retry_after=_retry_after(headers))
        if code == DAMAGED_CODE:
            self._forget(key, cached)
            number = problem.get("version_number")
            raise KaizenDamagedVersion(
                f"{said or 'The version is damaged on the server. '}{where}",
                url=url,
                status=status,
                code=code,
                version_number=number if type(number) is int else None,
                version_id=_text_of(problem, "version_id"),
            )
        if status == 404 and code in GONE_CODES:
            self._forget(key, cached)
            raise KaizenNotFound(f"{said or 'Not found. '}{where}", url=url, status=status, code=code)
        if status in (401, 403):
            raise KaizenAuthError(f"{said or 'The token was refused. '}{where}", url=url, status=status, code=code)
        raise KaizenClientError(
            f"{said or 'The server refused the request. '}{where}", url=url, status=status, code=code
        )

    def _parse(
        self, key: tuple[str, str | None, str | None], response: _Response
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The config (the body) and what the headers say of it, checked to be of the key asked for."""
        try:
            config = json.loads(response.body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise _Failure("the server's answer is not JSON", status=200) from None
        if not isinstance(config, dict):
            raise _Failure("the server's answer is not a JSON object", status=200)
        etag = (response.headers.get("etag") or "").strip()
        meta = dict.fromkeys(META_KEYS)
        meta["content_hash"] = etag[1:-1] if len(etag) >= 2 and etag[0] == etag[-1] == '"' else None
        return self._checked_meta(key, meta, response.headers), config

    def _checked_meta(
        self, key: tuple[str, str | None, str | None], meta: dict[str, Any], headers: http.client.HTTPMessage
    ) -> dict[str, Any]:
        """The metadata as the headers name it now, refused unless it is of the label or version asked for.

        A 304 answers for the content (the ETag is its hash): the headers say
        which version the label names now, which may be another with the same content.
        """
        number = _int_or_none(headers.get("x-kaizen-version"))
        if number is not None:
            meta["version_number"] = number
        if headers.get("x-kaizen-version-id"):
            meta["version_id"] = headers["x-kaizen-version-id"].strip()
        if headers.get("x-kaizen-label"):
            meta["label"] = headers["x-kaizen-label"].strip()
        _, label, version = key
        if label is not None and meta.get("label") != label:
            raise _Failure(
                f"asked for the label {label!r}, the server answered for {meta.get('label')!r} "
                "(a server without labels answers with the live config)",
                status=200,
            )
        if version is not None and version not in (str(meta.get("version_number")), meta.get("version_id")):
            raise _Failure(
                f"asked for version {version}, the server answered for {meta.get('version_number')!r}", status=200
            )
        if label is None and version is None and meta.get("label") is not None:
            raise _Failure(
                f"asked for the live config, the server answered for the label {meta.get('label')!r}", status=200
            )
        return meta

    def _stale(
        self, key: tuple[str, str | None, str | None], url: str, cached: _Cached | None, failure: _Failure
    ) -> _Cached:
        """The last good copy, served because the server failed; or :class:`KaizenUnavailable`."""
        agent, label, version = key
        what = f"{agent!r}" + (f" label {label!r}" if label else f" version {version}" if version else " (live)")
        if cached is None:
            raise KaizenUnavailable(
                f"Cannot get the config of {what} from {url}: {failure.reason}; nothing cached to fall back on.",
                url=url,
                status=failure.status,
                code=failure.code,
                retry_after=failure.retry_after,
            )
        age = max(0.0, self._time() - cached.checked_at)
        if self.max_stale is not None and age > self.max_stale:
            raise KaizenUnavailable(
                f"Cannot get the config of {what} from {url}: {failure.reason}; the cached copy is "
                f"{_duration(age)} old, over max_stale ({_duration(self.max_stale)}).",
                url=url,
                status=failure.status,
                code=failure.code,
                retry_after=failure.retry_after,
            )
        retry = failure.retry_after if failure.retry_after is not None else self.retry_interval
        now = self._monotonic()
        # A warning when the copy starts being served stale, then at most every WARN_EVERY seconds; info between.
        warn = cached.warned is None or now - cached.warned >= WARN_EVERY
        # Served without asking until the next try, but never past max_stale: then the server is asked again.
        served_for = retry if self.max_stale is None else min(retry, self.max_stale - age)
        stale = cached.replaced(
            fresh_until=now + served_for, error=failure.reason, warned=now if warn else cached.warned
        )
        self._memory[key] = stale
        number = cached.meta.get("version_number")
        log.log(
            logging.WARNING if warn else logging.INFO,
            "kaizen: serving the cached config of %s%s, last confirmed %s ago: GET %s failed: %s (next try in %s)",
            what,
            f" (v{number})" if number is not None else "",
            _duration(age),
            url,
            failure.reason,
            _duration(retry),
        )
        return stale

    # -- HTTP

    def _request(self, path: str, etag: str | None) -> _Response:
        headers = self._headers if etag is None else {**self._headers, "If-None-Match": etag}
        for attempt in (1, 2):
            connection = self._connection()
            reused = connection.used
            try:
                connection.used = True
                connection.http.request("GET", path, headers=headers)
                answer = connection.http.getresponse()
                body = answer.read()
            except _CLOSED_ERRORS as error:
                self._discard(connection)
                if reused and attempt == 1:
                    continue  # the server had closed the idle connection: once more on a new one (GET is safe)
                raise _Failure(_describe(error)) from None
            except (OSError, http.client.HTTPException) as error:
                self._discard(connection)
                raise _Failure(_describe(error)) from None
            if answer.will_close:
                self._discard(connection)
            return _Response(answer.status, answer.headers, body)
        raise AssertionError("unreachable")  # pragma: no cover

    def _connection(self) -> _Connection:
        """This thread's connection, made anew if it is gone (closed by the server, or made before a fork)."""
        connection: _Connection | None = getattr(self._local, "connection", None)
        if connection is not None:
            alive = connection.http.sock is not None and not (connection.used and connection.dropped())
            if alive and connection.pid == os.getpid():
                return connection
            self._discard(connection)
        made: http.client.HTTPConnection
        if self._https:
            made = http.client.HTTPSConnection(
                self._host, self._port, timeout=self.connect_timeout, context=self._ssl_context
            )
        else:
            made = http.client.HTTPConnection(self._host, self._port, timeout=self.connect_timeout)
        try:
            made.connect()
        except (OSError, http.client.HTTPException) as error:
            made.close()
            raise _Failure(_describe(error)) from None
        assert made.sock is not None
        made.sock.settimeout(self.read_timeout)
        try:
            made.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        connection = _Connection(made)
        self._local.connection = connection
        with self._locks_guard:
            self._connections.add(connection)
        return connection

    def _discard(self, connection: _Connection) -> None:
        if getattr(self._local, "connection", None) is connection:
            self._local.connection = None
        with self._locks_guard:
            self._connections.discard(connection)
        if connection.pid == os.getpid():
            connection.http.close()  # a parent's socket is the parent's: the child only lets go of it

    # -- files

    def _file(self, key: tuple[str, str | None, str | None]) -> Path:
        assert self.cache_dir is not None
        name = json.dumps([self.base_url, *key], ensure_ascii=True)
        return self.cache_dir / f"{hashlib.sha256(name.encode()).hexdigest()[:40]}.json"

    def _load(self, key: tuple[str, str | None, str | None]) -> _Cached | None:
        """The key's copy from its file, to revalidate before use (None when there is none or it is damaged)."""
        path = self._file(key)
        try:
            raw = path.read_bytes()
            modified = path.stat().st_mtime
        except FileNotFoundError:
            return None
        except OSError as error:
            log.warning("kaizen: ignoring the cache file %s: %s", path, _describe(error))
            return None
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
                raise ValueError("not a kaizen-tui client cache file of this version")
            if data.get("key") != [self.base_url, *key]:
                raise ValueError("it holds another key's copy")
            meta, config = data.get("meta"), data.get("config")
            etag, fetched_at = data.get("etag"), data.get("fetched_at")
            if not isinstance(meta, dict) or not isinstance(config, dict):
                raise ValueError("no config in it")
            if etag is not None and not (isinstance(etag, str) and etag.isascii() and etag.isprintable()):
                raise ValueError("its ETag is not valid")
            if not isinstance(fetched_at, int | float) or isinstance(fetched_at, bool):
                raise ValueError("its time is not valid")
            meta = {name: meta.get(name) for name in META_KEYS}
        except (ValueError, UnicodeDecodeError, RecursionError) as error:
            log.warning("kaizen: ignoring the damaged cache file %s: %s", path, error)
            return None
        checked_at = max(float(fetched_at), modified)  # a 304 touches the file
        return _Cached(meta, config, etag, float(fetched_at), checked_at, float("-inf"), path=path)

    def _save(self, key: tuple[str, str | None, str | None], cached: _Cached) -> Path | None:
        """Write the key's copy to its file atomically (a temporary file, renamed), readable by its owner only.

        When it cannot be written (disk full), the key's older file is removed
        if it can be: it names a copy the server has replaced since, which a
        restart must not serve as if it were the last one confirmed.
        """
        path = self._file(key)
        record = {
            "format": CACHE_FORMAT,
            "key": [self.base_url, *key],
            "etag": cached.etag,
            "fetched_at": cached.fetched_at,
            "meta": cached.meta,
            "config": cached.config,
        }
        temporary = None
        try:
            descriptor, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)  # mode 0600
            with os.fdopen(descriptor, "wb") as file:
                file.write(
                    json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
                )
            os.utime(temporary, (cached.checked_at, cached.checked_at))  # the last check, on the client's clock
            Path(temporary).replace(path)
        except OSError as error:
            log.warning("kaizen: cannot write the cache file %s: %s", path, _describe(error))
            for leftover in (temporary, path):
                if leftover is not None:
                    try:
                        Path(leftover).unlink()
                    except OSError:
                        pass
            return None
        return path

    def _touch(self, path: Path, when: float) -> None:
        """The server confirmed the copy: its file's time says so (what a restart reads as the last check)."""
        try:
            os.utime(path, (when, when))
        except OSError:
            pass

    def _forget(self, key: tuple[str, str | None, str | None], cached: _Cached | None) -> None:
        self._memory.pop(key, None)
        if self.cache_dir is not None:
            try:
                self._file(key).unlink()
            except FileNotFoundError:
                pass
            except OSError as error:
                log.warning("kaizen: cannot remove the cache file %s: %s", self._file(key), _describe(error))


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


#: Every client, so that a forked child can give each new locks and connections.
_clients: weakref.WeakSet[KaizenClient] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for client in list(_clients):
        client._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
