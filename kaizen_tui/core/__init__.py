"""The core: the config schema, comparing configs, errors, ids and times.

Pure: no I/O, no database driver, no Textual. Everything above builds on it.
"""
