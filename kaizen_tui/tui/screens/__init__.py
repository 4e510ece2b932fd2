"""Screens of the kaizen-tui app."""
