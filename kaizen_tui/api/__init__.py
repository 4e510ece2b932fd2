"""The HTTP API (``kaizen-tui serve``): the spec's endpoints and the rest a client needs, on FastAPI.

A face like the CLI and the TUI: it parses requests, calls the one
:class:`~kaizen_tui.service.AgentService` and presents its results, so every
rule holds over HTTP exactly as elsewhere. FastAPI is imported only here,
only when a server starts.
"""
