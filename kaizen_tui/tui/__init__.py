"""The terminal app (Textual): the app, its screens, widgets and the action registry."""
