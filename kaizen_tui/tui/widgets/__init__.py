"""Widgets of the kaizen-tui app: they render and post messages, never touch the database."""
