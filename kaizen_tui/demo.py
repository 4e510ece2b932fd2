"""The demo database: six agents with realistic histories, built through the service.

Everything is deterministic except the random ids: times are laid over
September to November 2026 by a fake clock, and authors vary by step, so the
demo reads like a team's real history and snapshot tests stay stable.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kaizen_tui.core.errors import KaizenError
from kaizen_tui.service import AgentService

DEMO_START = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


def demo_db_path() -> Path:
    """Where ``kaizen-tui --demo`` keeps its database when no ``--db`` is given."""
    from platformdirs import user_data_path

    return user_data_path("kaizen-tui") / "demo.db"


@dataclass
class Step:
    """One moment in an agent's history: edit the live config, then maybe snapshot."""

    day: float
    author: str
    changes: Mapping[str, Any] = field(default_factory=dict)
    changelog: str | None = None
    snapshot: bool = True


@dataclass
class LabelStep:
    """A label set, moved or removed (``version`` None), or (``protect``) a label name protected."""

    day: float
    author: str
    label: str
    version: int | None
    reason: str = ""
    protect: bool = False


@dataclass
class History:
    config: Mapping[str, Any]
    author: str
    steps: list[Step]
    labels: list[LabelStep] = field(default_factory=list)


class _DemoClock:
    """A clock the seeding moves by hand: ``at(day)`` days after DEMO_START."""

    def __init__(self) -> None:
        self.now = DEMO_START

    def at(self, day: float) -> None:
        self.now = DEMO_START + timedelta(days=day)

    def __call__(self) -> str:
        return self.now.strftime("%Y-%m-%dT%H:%M:%SZ")


SUPPORT_PROMPT_V1 = """You are the support assistant for Acme Cloud.
Answer customer questions about billing, accounts and outages.
Be polite and concise."""

SUPPORT_PROMPT_V2 = """You are the support assistant for Acme Cloud.
Answer customer questions about billing, accounts and outages.
Be polite and concise. Never promise refunds; hand refund requests to a human.
If you do not know an answer, say so and offer to open a ticket."""

SUPPORT_PROMPT_V3 = """You are the support assistant for Acme Cloud.

Scope: billing, accounts, outages and the status page.
Tone: warm, plain English, at most three short paragraphs.

Rules:
- Never promise refunds; hand refund requests to a human.
- If you do not know an answer, say so and offer to open a ticket.
- During an incident, link https://status.acme.example first.
- Never ask for passwords or full card numbers."""

SUPPORT_PROMPT_V4 = SUPPORT_PROMPT_V3.replace(
    "Tone: warm, plain English, at most three short paragraphs.",
    "Tone: warm, plain English, at most two short paragraphs. Use the customer's name.",
)

RESEARCH_PROMPT = """You are a research assistant for the product team.

Work in three steps:
1. Restate the question and list what you need to find out.
2. Search, read the sources, and take notes with citations.
3. Write a summary with a confidence level for each claim.

Cite every fact as [n] with the URL at the end. Prefer primary sources."""

RESEARCH_TOOLS = [
    {"name": "web_search", "description": "Search the web", "max_results": 5},
    {"name": "fetch_url", "description": "Fetch a page as text", "timeout_s": 20},
]

REVIEW_SECTIONS = [
    (
        "Correctness",
        [
            "Check that the change does what its description says, including edge cases: empty inputs, "
            "very large inputs, unicode, time zones, concurrent callers and partial failures.",
            "Look for off-by-one errors in loops and slices, and for conditions that are inverted.",
            "Check error handling: every error is either handled with intent or passed up with context; "
            "nothing is swallowed silently, and cleanup runs on every path.",
            "For database code, check transactions: what happens if the process dies halfway?",
        ],
    ),
    (
        "Security",
        [
            "No SQL, shell commands or HTML built by string concatenation from user input.",
            "Secrets never appear in logs, error messages, URLs or test fixtures.",
            "Authorisation is checked on the server for every object accessed, not only in the UI.",
            "Untrusted data is validated at the boundary, with limits on size and depth.",
        ],
    ),
    (
        "Design",
        [
            "Each module has one job and a name that says it; functions are short and do one thing.",
            "New abstractions pay for themselves; prefer a plain function to a class with one method.",
            "Public interfaces are typed and documented where the why is not obvious.",
            "The change does not duplicate a helper the codebase already has.",
        ],
    ),
    (
        "Tests",
        [
            "Every behaviour change has a test that would fail without it.",
            "Tests go through public interfaces and assert on outcomes, not on implementation details.",
            "Tests are deterministic: no sleeps, no real network, no dependence on wall-clock time.",
            "Slow tests are marked, and the suite stays fast enough to run before every commit.",
        ],
    ),
    (
        "Performance",
        [
            "No query inside a loop over rows; no unbounded list loaded into memory.",
            "Hot paths avoid repeated parsing, allocation and logging.",
            "Anything that can grow with the data is paginated or streamed.",
        ],
    ),
    (
        "Readability",
        [
            "Names say what a thing is or does; abbreviations are ones the whole team knows.",
            "Control flow is shallow: early returns instead of deep nesting, no clever one-liners.",
            "Comments explain why, not what; a comment that restates the code should go.",
            "Dead code, commented-out code and debugging output are removed before merging.",
        ],
    ),
    (
        "Dependencies",
        [
            "A new dependency is justified in the description: what it does better than our own code.",
            "Versions are bounded so that a major release cannot break the build unannounced.",
            "Licences are compatible with ours, and the package is maintained and widely used.",
        ],
    ),
    (
        "Documentation",
        [
            "User-facing changes update the README, the help text and the changelog.",
            "Breaking changes are called out with a migration path for existing users.",
            "Examples in the documentation are tested or at least run once by the reviewer.",
        ],
    ),
    (
        "Operability",
        [
            "Logs say what happened with enough context to debug, at the right level.",
            "Configuration has safe defaults; a missing setting fails loudly at start-up.",
            "Migrations are backward compatible with the previous release during a rolling deploy.",
        ],
    ),
]


def _review_prompt(tone: str) -> str:
    lines = [
        "You are a senior software engineer reviewing a pull request.",
        "",
        "Read the diff and the description. Then write a review with these parts:",
        "1. A one-paragraph summary of what the change does and whether it should be merged.",
        "2. Blocking issues, each with the file, the line and a concrete fix.",
        "3. Suggestions that are not blocking, marked 'nit:' when they are about style only.",
        "4. Questions for the author where the intent is unclear.",
        "",
        f"Tone: {tone}",
        "",
        "Checklist. Go through every section; skip a point only when it cannot apply.",
    ]
    for title, points in REVIEW_SECTIONS:
        lines += ["", f"## {title}", *(f"- {point}" for point in points)]
    lines += [
        "",
        "Never approve a change that you have not fully read. If the diff is too large to review",
        "well, say so and ask for it to be split. Quote code with the language named in the fence.",
        "",
        "## Example of a good blocking comment",
        "",
        "> **billing/invoice.py, line 88**: `total = sum(line.amount for line in lines)` adds floats,",
        "> so a 100-line invoice can be off by a cent. Use `decimal.Decimal` for money and round",
        "> once, at the end, with ROUND_HALF_EVEN as finance requires. A test with 0.1 + 0.2 would",
        "> have caught this; please add one.",
        "",
        "## Example of a good suggestion",
        "",
        "> nit: `fetch_all_customers_for_region_v2` could be `customers_in(region)`; the v2 suffix",
        "> no longer tells the reader anything now that v1 is gone.",
    ]
    return "\n".join(lines)


INVOICE_PROMPT = """Extract invoice data from the OCR text below into JSON.

Fields: invoice_number, issue_date (YYYY-MM-DD), due_date, supplier_name,
supplier_vat_id, currency (ISO 4217), net_total, tax_total, gross_total,
line_items[] with description, quantity, unit_price, amount.

Return only the JSON object. Use null for a field you cannot find."""

INVOICE_SCHEMA = {
    "type": "object",
    "required": ["invoice_number", "issue_date", "gross_total"],
    "properties": {
        "invoice_number": {"type": "string"},
        "issue_date": {"type": "string", "format": "date"},
        "gross_total": {"type": "number"},
    },
}

ONBOARDING_PROMPT = """Welcome new employees in their first week.
Answer questions about laptops, accounts, the handbook and who to ask.
Point to the right handbook page for every answer."""

SQL_PROMPT_V1 = """You translate questions about our sales data into SQL for PostgreSQL.
Tables: orders(id, customer_id, placed_at, total), customers(id, name, region).
Return one SQL query and nothing else."""


def _histories() -> list[History]:
    return [
        History(
            config={
                "name": "Support Agent",
                "description": "Answers customer questions in the help widget",
                "agent_type": "chat",
                "status": "active",
                "system_prompt": SUPPORT_PROMPT_V1,
                "model_id": "gpt-4o",
                "temperature": 0.7,
                "max_tokens": 1024,
            },
            author="maria",
            steps=[
                Step(0, "maria", changelog="First version for the beta widget"),
                Step(4, "maria", {"system_prompt": SUPPORT_PROMPT_V2}, "Hand refund requests to a human"),
                Step(9, "sam", {"temperature": 0.4}, "Lower temperature: answers were too creative"),
                Step(
                    15,
                    "maria",
                    {"system_prompt": SUPPORT_PROMPT_V3, "max_tokens": 2048},
                    "Restructure prompt into scope, tone and rules",
                ),
                Step(22, "devon", {"model_id": "gpt-4o-mini"}, "Try the mini model to cut cost"),
                Step(24, "devon", {"model_id": "gpt-4o"}, "Back to gpt-4o: mini missed outage questions"),
                Step(
                    40,
                    "maria",
                    {"system_prompt": SUPPORT_PROMPT_V4, "temperature": 0.5},
                    "Shorter answers, use the customer's name",
                ),
            ],
            labels=[
                LabelStep(0.5, "maria", "production", 1, "Beta widget launch"),
                LabelStep(
                    9.5, "sam", "production", 3, "Refund hand-off and calmer answers; checked with the support leads"
                ),
                LabelStep(10, "maria", "production", None, protect=True),
                LabelStep(15.5, "maria", "staging", 4, "Structured prompt: a week on staging first"),
                LabelStep(21, "maria", "production", 4, "The staging week went well: fewer escalations"),
                LabelStep(22.5, "devon", "staging", 5, "Cost experiment: gpt-4o-mini on staging"),
                LabelStep(24.5, "devon", "staging", 6, "Mini missed outage questions; back to gpt-4o"),
                LabelStep(40.5, "maria", "staging", 7, "Shorter answers with the customer's name"),
            ],
        ),
        History(
            config={
                "name": "Research Assistant",
                "description": "Multi-step web research with citations",
                "agent_type": "task",
                "status": "active",
                "system_prompt": RESEARCH_PROMPT,
                "model_id": "claude-3-5-sonnet",
                "temperature": 0.3,
                "max_tokens": 4096,
                "extra": {"tools": RESEARCH_TOOLS},
            },
            author="priya",
            steps=[
                Step(2, "priya", changelog="Initial research agent with search and fetch tools"),
                Step(
                    6,
                    "priya",
                    {
                        "extra": {
                            "tools": [
                                *RESEARCH_TOOLS,
                                {"name": "python", "description": "Run Python for calculations", "timeout_s": 30},
                            ]
                        }
                    },
                    "Add a python tool for numbers",
                ),
                Step(
                    13,
                    "sam",
                    {
                        "extra": {
                            "tools": [
                                *RESEARCH_TOOLS,
                                {"name": "python", "description": "Run Python for calculations", "timeout_s": 30},
                            ],
                            "top_p": 0.9,
                        }
                    },
                    "Set top_p 0.9",
                ),
                Step(
                    30,
                    "priya",
                    {
                        "max_tokens": 8192,
                        "system_prompt": RESEARCH_PROMPT.replace(
                            "Prefer primary sources.", "Prefer primary sources. Flag anything older than two years."
                        ),
                    },
                    "Longer reports; flag stale sources",
                ),
                Step(51, "priya", {"model_id": "claude-sonnet-4"}, "Upgrade to claude-sonnet-4"),
            ],
            labels=[
                LabelStep(6.5, "priya", "production", 2, "First rollout to the product team"),
                LabelStep(31, "priya", "production", 4, "Longer reports for the quarterly review"),
                LabelStep(51.5, "priya", "canary", 5, "claude-sonnet-4 on 5% of requests for a week"),
            ],
        ),
        History(
            config={
                "name": "Code Reviewer",
                "description": "Reviews pull requests against the team checklist",
                "agent_type": "task",
                "status": "active",
                "system_prompt": _review_prompt("direct and specific; explain why, not only what."),
                "model_id": "gpt-4.1",
                "temperature": 0.2,
                "max_tokens": 4000,
            },
            author="devon",
            steps=[
                Step(5, "devon", changelog="Import the team's review checklist"),
                Step(
                    11,
                    "devon",
                    {
                        "system_prompt": _review_prompt(
                            "direct and specific; explain why, not only what. Be kind: the author is a colleague."
                        )
                    },
                    "Ask for a kinder tone",
                ),
                Step(27, "sam", {"temperature": 0.0}, "Deterministic reviews for CI"),
                Step(
                    44,
                    "devon",
                    {"max_tokens": 6000, "extra": {"stop": ["<END_REVIEW>"]}},
                    "Allow longer reviews, stop at the end marker",
                ),
            ],
            labels=[
                LabelStep(27.5, "sam", "ci", 3, "Deterministic reviews for the CI gate"),
                LabelStep(44.5, "devon", "staging", 4, "Longer reviews with an end marker: try them on staging"),
            ],
        ),
        History(
            config={
                "name": "Invoice Extraction Pipeline",
                "description": "OCR text to structured invoice JSON",
                "agent_type": "pipeline",
                "status": "active",
                "system_prompt": INVOICE_PROMPT,
                "model_id": "gpt-4o-mini",
                "temperature": 0.0,
                "max_tokens": 1500,
                "extra": {"response_format": "json_object"},
            },
            author="lena",
            steps=[
                Step(1, "lena", changelog="Pipeline v1"),
                Step(3, "lena", {"max_tokens": 2000}, "Long invoices were cut off"),
                Step(
                    8,
                    "lena",
                    {"extra": {"response_format": "json_schema", "schema": INVOICE_SCHEMA}},
                    "Validate output against a JSON schema",
                ),
                Step(12, "ci-bot", {"model_id": "gpt-4o"}, "Auto: accuracy dropped below 95% on eval set"),
                Step(
                    13,
                    "lena",
                    {
                        "model_id": "gpt-4o-mini",
                        "system_prompt": INVOICE_PROMPT + "\nDates on European invoices are day-first (31.01.2026).",
                    },
                    "Back to mini with a hint for European dates",
                ),
                Step(20, "lena", {"max_tokens": 2500}, "Room for invoices with 100+ lines"),
                Step(33, "ci-bot", changelog="Auto: nightly snapshot"),
                Step(
                    47,
                    "lena",
                    {
                        "extra": {
                            "response_format": "json_schema",
                            "schema": {**INVOICE_SCHEMA, "required": [*INVOICE_SCHEMA["required"], "currency"]},
                        }
                    },
                    "Currency is now required",
                ),
                Step(63, "ci-bot", changelog="Auto: nightly snapshot"),
            ],
            labels=[
                LabelStep(8.5, "lena", "production", 3, "Schema validation is live"),
                LabelStep(13.5, "lena", "production", 5, "Mini with the date hint: 97.4% on the eval set"),
                LabelStep(20.5, "lena", "production", 6, "Invoices with 100+ lines"),
                LabelStep(33.5, "ci-bot", "nightly", 7, "Auto: nightly build"),
                LabelStep(47.5, "lena", "staging", 8, "Currency required: staging until the ERP import accepts it"),
                LabelStep(63.5, "ci-bot", "nightly", 9, "Auto: nightly build"),
            ],
        ),
        History(
            config={
                "name": "Onboarding Concierge",
                "description": "Helps new employees in their first week",
                "agent_type": "chat",
                "status": "draft",
                "system_prompt": ONBOARDING_PROMPT,
                "model_id": "gpt-4o-mini",
                "temperature": 0.8,
                "max_tokens": 800,
            },
            author="sam",
            steps=[
                Step(35, "sam", changelog="Draft for the HR pilot"),
                Step(41, "sam", {"temperature": 0.6}, "Less chatty"),
                Step(
                    55,
                    "sam",
                    {"system_prompt": ONBOARDING_PROMPT + "\nAlways end with: 'Anything else?'"},
                    "Close every answer with a question",
                ),
                # Edited after the newest version and not snapshotted yet:
                Step(
                    80,
                    "sam",
                    {
                        "system_prompt": ONBOARDING_PROMPT.replace(
                            "Welcome new employees", "Welcome new employees warmly"
                        )
                        + "\nMention the buddy programme in the first answer.",
                        "max_tokens": 1200,
                    },
                    snapshot=False,
                ),
            ],
        ),
        History(
            config={
                "name": "SQL Analyst",
                "description": "Natural-language questions to SQL over the sales warehouse",
                "agent_type": "custom",
                "status": "archived",
                "system_prompt": SQL_PROMPT_V1,
                "model_id": "gpt-4",
                "temperature": 0.0,
                "max_tokens": 512,
            },
            author="lena",
            steps=[
                Step(0.5, "lena", changelog="First try"),
                *[
                    Step(0.5 + 2 * index, "lena" if index % 2 else "ci-bot", dict(change), log)  # type: ignore[call-overload]
                    for index, (change, log) in enumerate(
                        [
                            ({"max_tokens": 768}, "Queries with CTEs were cut off"),
                            ({"system_prompt": SQL_PROMPT_V1 + "\nUse ISO dates."}, "ISO dates"),
                            (
                                {"system_prompt": SQL_PROMPT_V1 + "\nUse ISO dates.\nNever write DELETE or UPDATE."},
                                "Read-only queries only",
                            ),
                            ({"temperature": 0.1}, "Slight variety for retries"),
                            ({"model_id": "gpt-4-turbo"}, "gpt-4-turbo"),
                            ({"extra": {"dialect": "postgresql"}}, "Record the SQL dialect"),
                            ({"extra": {"dialect": "postgresql", "max_rows": 1000}}, "Cap result rows"),
                            ({"temperature": 0.0}, "Back to deterministic"),
                            ({}, "Auto: weekly snapshot"),
                            ({"model_id": "gpt-4o"}, "gpt-4o before archiving"),
                            ({"description": "Replaced by the BI copilot; kept for reference"}, "Archive"),
                        ],
                        start=1,
                    )
                ],
            ],
            labels=[
                LabelStep(16.6, "lena", "production", 9, "Deterministic again: ship it"),
                LabelStep(22.6, "lena", "production", None, "Archived: the BI copilot replaces it"),
            ],
        ),
    ]


def seed_demo(service: AgentService) -> None:
    """Fill an empty database with the demo agents. Refuses a database that has agents."""
    if service.list_agents():
        raise KaizenError(f"{service.display_name} already has agents; the demo needs an empty database.")
    clock = _DemoClock()
    original_clock, original_user = service.clock, service.user
    service.clock = clock
    try:
        for history in _histories():
            clock.at(history.steps[0].day)
            service.user = history.author
            agent = service.create_agent(history.config)
            # Versions and labels in the order of their days: the audit log reads like the team's week.
            moments: list[Step | LabelStep] = sorted([*history.steps, *history.labels], key=lambda step: step.day)
            for step in moments:
                clock.at(step.day)
                service.user = step.author
                if isinstance(step, LabelStep):
                    _label(service, agent["id"], step)
                    continue
                if step.changes:
                    service.update(agent["id"], step.changes)
                if step.snapshot:
                    clock.at(step.day + 0.01)
                    service.create_version(agent["id"], step.changelog)
    finally:
        service.clock, service.user = original_clock, original_user


def _label(service: AgentService, agent_id: str, step: LabelStep) -> None:
    """Protect a label name, or set, move or remove a label, as the demo's team did (confirmed: protected ones too)."""
    if step.protect:
        service.protect_label(step.label)
    elif step.version is None:
        service.remove_label(agent_id, step.label, reason=step.reason, allow_protected=True)
    else:
        service.set_label(agent_id, step.label, step.version, reason=step.reason, allow_protected=True)


def ensure_demo_database(db_target: str | None = None, *, read_only: bool = False) -> str:
    """The demo database's path or URL, filled with the demo agents if it has none.

    Without ``db_target`` it is the per-user ``demo.db``. A database that
    already has agents is used as it is, so demo changes survive a restart;
    delete the file for a fresh copy. With ``read_only`` nothing is written.

    The demo is built in a scratch file and copied in with one transaction,
    so an interrupted start or several starting at once never leave half a
    demo or two of them.
    """
    target = db_target or str(demo_db_path())
    if read_only:
        return target
    if db_target is None:
        demo_db_path().parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    service = AgentService(target, user="demo")
    try:
        if service.read_only or service.list_agents():
            return target
        _fill_in_one_transaction(service)
    finally:
        service.close()
    return target


def _fill_in_one_transaction(service: AgentService) -> None:
    """Build the demo in a scratch file, then copy it in with one transaction (if still empty)."""
    with tempfile.TemporaryDirectory(prefix="kaizen-demo-") as folder:
        builder = AgentService(str(Path(folder) / "demo.db"), user="demo")
        try:
            seed_demo(builder)
            service.store.fill_empty_from(builder.store)
        finally:
            builder.close()
