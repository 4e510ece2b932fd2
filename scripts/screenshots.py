"""Write SVG screenshots of the TUI on the demo data into screenshots/.

    .venv/bin/python scripts/screenshots.py [--out screenshots]

Each picture is the real app, run headless on a fresh demo database, driven
by the keys a person would press. Times are measured from 2026-12-01 so the
pictures do not change from one run to the next.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from kaizen_tui.demo import seed_demo
from kaizen_tui.service import AgentService
from kaizen_tui.tui.app import KaizenApp
from kaizen_tui.tui.testing import settle, show_database_as

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
#: What the header shows instead of the temporary file.
SHOWN_PATH = Path("~/.local/share/kaizen-tui/demo.db")


@dataclass
class Shot:
    name: str
    title: str
    keys: list[str]
    size: tuple[int, int] = (120, 36)
    theme: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


SHOTS = [
    Shot("main", "kaizen-tui: agents, timeline and diff", ["G", "enter", "j", "j", "j"]),
    Shot("compare", "kaizen-tui: compare the oldest version with the newest", ["G", "enter", "G", "space", "g", "c"]),
    Shot("rollback", "kaizen-tui: roll back, with what will change", ["G", "enter", "G", "r"], size=(100, 30)),
    Shot(
        "prune",
        "kaizen-tui: prune to the newest versions, archiving the rest",
        ["j", "enter", "p", "3", "tab", *"invoice-pipeline-old.jsonl", "enter"],
        size=(100, 30),
    ),
    Shot(
        "label",
        "kaizen-tui: move a label, with what changes for everyone on it",
        ["G", "enter", "t", *"production", "enter", *"shorter", "space", *"answers"],
        size=(100, 30),
    ),
    Shot(
        "snapshot",
        "kaizen-tui: snapshot, with what the new version will hold",
        ["j", "j", "enter", "s", *"Warmer", "space", *"greeting"],
        size=(100, 30),
    ),
    Shot(
        "prune-80x24",
        "kaizen-tui at 80x24: prune, with the warnings first and the list below",
        ["j", "enter", "p", "2"],
        size=(80, 24),
    ),
    Shot("ledger", "kaizen-tui: the label ledger", ["G", "enter", "T"], size=(100, 30)),
    Shot("unsaved", "kaizen-tui: live edits no version holds yet", ["j", "j", "enter"], size=(100, 30)),
    Shot("help", "kaizen-tui: help", ["question_mark"], size=(100, 30)),
    Shot("narrow-80x24", "kaizen-tui at 80x24", ["G", "enter", "j", "j", "j"], size=(80, 24)),
    Shot("light", "kaizen-tui in the light theme", ["G", "enter", "j"], theme="textual-light"),
    Shot("small-40x12", "kaizen-tui at 40x12: roll back", ["G", "enter", "j", "r"], size=(40, 12)),
]


async def take(shot: Shot, db_path: Path, out: Path) -> Path:
    service = AgentService(str(db_path), user="demo")
    show_database_as(service, SHOWN_PATH)  # the header shows a stable path
    try:
        app = KaizenApp(service, now=lambda: NOW)
        async with app.run_test(size=shot.size) as pilot:
            if shot.theme:
                app.theme = shot.theme
            await settle(pilot)
            for key in shot.keys:
                await pilot.press(key)
                await settle(pilot)
            await pilot.pause(0.2)
            path = out / f"{shot.name}.svg"
            app.save_screenshot(filename=path.name, path=str(out))
            # The SVG's title bar says what the picture shows.
            text = path.read_text(encoding="utf-8")
            path.write_text(text.replace(">kaizen-tui</text>", f">{shot.title}</text>", 1), encoding="utf-8")
            return path
    finally:
        service.close()


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for shot in SHOTS:
        with tempfile.TemporaryDirectory(prefix="kaizen-shots-") as folder:
            db_path = Path(folder) / "demo.db"
            service = AgentService(str(db_path), user="demo")
            try:
                seed_demo(service)
            finally:
                service.close()
            path = await take(shot, db_path, out)
            print(f"wrote {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "screenshots")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.out))
    sys.exit(0)
