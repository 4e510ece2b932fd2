"""The service for asyncio programs: ``await service.create_version(...)``, as the spec writes it.

:class:`~kaizen_tui.service.AgentService` is synchronous: a call blocks its
thread until its transaction is done. A program that runs an event loop (a
bot, a notebook, an async web framework, the TUI) must not block it, so it
wraps the service once::

    from kaizen_tui.service import AgentService, AsyncAgentService

    service = AsyncAgentService(AgentService("team.db", user="ci"))
    version = await service.create_version(agent_id, "New prompt")

Every method has the name and the parameters of the synchronous one, and
runs it on a thread of the loop's default executor (as ``asyncio.to_thread``
does), or of the ``executor`` given (a server bounds its threads so), so
many calls can be under way at once. A call that has begun runs to
its end even if the task awaiting it is cancelled: a transaction is never cut
off halfway, nor a change asked for dropped; the task only stops waiting for
the answer. ``asyncio.run`` returns once such calls have ended (it waits for
the default executor), so a script that did not await a change still makes it. The properties (``read_only``,
``display_name``...) read no data and are plain attributes; ``sync`` is the
synchronous service itself, for everything else.

Each call looks the method up on the synchronous service when it is made, so
a method replaced on that instance (a test's stand-in, a wrapper that logs)
is the one that runs.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Concatenate, ParamSpec, TypeVar

from kaizen_tui.service.agent_service import AgentService

P = ParamSpec("P")
R = TypeVar("R")


def _off_the_loop(
    method: Callable[Concatenate[AgentService, P], R],
) -> Callable[Concatenate[AsyncAgentService, P], Awaitable[R]]:
    """``method`` of the synchronous service as a method of the async face: same parameters, awaited."""
    name = method.__name__

    @functools.wraps(method)  # its name, its docstring, and its signature for help() and inspect
    async def call(self: AsyncAgentService, /, *args: P.args, **kwargs: P.kwargs) -> R:
        blocking: Callable[P, R] = getattr(self.sync, name)
        # As asyncio.to_thread, but shielded: cancelling the awaiting task must not take a call
        # off the executor's queue before a thread picked it up (to_thread's would then never run).
        work = functools.partial(contextvars.copy_context().run, blocking, *args, **kwargs)
        job = asyncio.get_running_loop().run_in_executor(self.executor, work)
        job.add_done_callback(_retrieve_error)
        return await asyncio.shield(job)

    call.__qualname__ = f"AsyncAgentService.{name}"
    return call


def _retrieve_error(job: asyncio.Future[R]) -> None:
    """Mark a call's error as seen: the task that awaited it may have been cancelled (asyncio would log it)."""
    if not job.cancelled():
        job.exception()


class AsyncAgentService:
    """:class:`~kaizen_tui.service.AgentService` for asyncio: each method awaited, its work on a thread."""

    def __init__(self, service: AgentService, *, executor: Executor | None = None) -> None:
        #: The synchronous service every call goes to.
        self.sync = service
        #: Where the calls run: the event loop's default executor when None.
        self.executor = executor

    # -- what reads no data: as the synchronous service has it

    @property
    def user(self) -> str:
        return self.sync.user

    @property
    def read_only(self) -> bool:
        return self.sync.read_only

    @property
    def read_only_reason(self) -> str:
        return self.sync.read_only_reason

    @property
    def display_name(self) -> str:
        return self.sync.display_name

    @property
    def notices(self) -> list[str]:
        return self.sync.notices

    def watch_changes(self, on_change: Callable[[], None]) -> Callable[[], None] | None:
        """As :meth:`AgentService.watch_changes`: ``on_change`` is called from another thread."""
        return self.sync.watch_changes(on_change)

    # -- the operations, in the order of AgentService and its parts

    close = _off_the_loop(AgentService.close)
    close_discarding_new = _off_the_loop(AgentService.close_discarding_new)

    # agents
    create_agent = _off_the_loop(AgentService.create_agent)
    get = _off_the_loop(AgentService.get)
    list_agents = _off_the_loop(AgentService.list_agents)
    changed_agents = _off_the_loop(AgentService.changed_agents)
    get_config = _off_the_loop(AgentService.get_config)
    get_config_cached = _off_the_loop(AgentService.get_config_cached)
    find_agent = _off_the_loop(AgentService.find_agent)
    check_name = _off_the_loop(AgentService.check_name)
    name_clashes = _off_the_loop(AgentService.name_clashes)
    update = _off_the_loop(AgentService.update)
    update_agent_with_version = _off_the_loop(AgentService.update_agent_with_version)
    apply_edit = _off_the_loop(AgentService.apply_edit)
    plan_delete_agent = _off_the_loop(AgentService.plan_delete_agent)
    delete_agent = _off_the_loop(AgentService.delete_agent)

    # versions
    create_version = _off_the_loop(AgentService.create_version)
    plan_snapshot = _off_the_loop(AgentService.plan_snapshot)
    create_version_if_changed = _off_the_loop(AgentService.create_version_if_changed)
    get_versions = _off_the_loop(AgentService.get_versions)
    get_versions_with_config = _off_the_loop(AgentService.get_versions_with_config)
    versions_page = _off_the_loop(AgentService.versions_page)
    get_version = _off_the_loop(AgentService.get_version)
    find_version = _off_the_loop(AgentService.find_version)
    get_timeline = _off_the_loop(AgentService.get_timeline)
    plan_rollback = _off_the_loop(AgentService.plan_rollback)
    rollback_to_version = _off_the_loop(AgentService.rollback_to_version)
    delete_version = _off_the_loop(AgentService.delete_version)
    plan_prune = _off_the_loop(AgentService.plan_prune)
    prune_preview = _off_the_loop(AgentService.prune_preview)
    prune = _off_the_loop(AgentService.prune)
    cleanup_old_versions = _off_the_loop(AgentService.cleanup_old_versions)
    compare = _off_the_loop(AgentService.compare)
    compare_versions = _off_the_loop(AgentService.compare_versions)
    compare_with_live = _off_the_loop(AgentService.compare_with_live)
    compare_with_previous = _off_the_loop(AgentService.compare_with_previous)

    # audit and change detection
    audit_log = _off_the_loop(AgentService.audit_log)
    audit_trail = _off_the_loop(AgentService.audit_trail)
    change_marker = _off_the_loop(AgentService.change_marker)

    # labels
    list_labels = _off_the_loop(AgentService.list_labels)
    label_history = _off_the_loop(AgentService.label_history)
    protected_labels = _off_the_loop(AgentService.protected_labels)
    resolve_config = _off_the_loop(AgentService.resolve_config)
    resolve_config_cached = _off_the_loop(AgentService.resolve_config_cached)
    plan_label_move = _off_the_loop(AgentService.plan_label_move)
    set_label = _off_the_loop(AgentService.set_label)
    remove_label = _off_the_loop(AgentService.remove_label)
    protect_label = _off_the_loop(AgentService.protect_label)
    unprotect_label = _off_the_loop(AgentService.unprotect_label)

    # tokens
    create_token = _off_the_loop(AgentService.create_token)
    list_tokens = _off_the_loop(AgentService.list_tokens)
    revoke_token = _off_the_loop(AgentService.revoke_token)
    authenticate = _off_the_loop(AgentService.authenticate)

    # export, import, archives
    export_agents = _off_the_loop(AgentService.export_agents)
    export_file = _off_the_loop(AgentService.export_file)
    import_file = _off_the_loop(AgentService.import_file)
    import_lines = _off_the_loop(AgentService.import_lines)
    check_archive = _off_the_loop(AgentService.check_archive)
