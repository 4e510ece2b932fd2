"""kaizen-tui: version the configurations of AI agents, from a terminal."""

__version__ = "0.1.0"
