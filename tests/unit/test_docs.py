"""The documentation stays what a newcomer can use: README.md short and linking every page
under docs/, no relative link or image in README.md, DEVELOPERS.md or docs/ leading to a
file (or a heading) that does not exist, and docs/logs.md listing the stable log events.

The Markdown is parsed with markdown-it-py (CommonMark plus tables), so text in code spans
and fenced blocks is never taken for a link."""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
LOGS = DOCS / "logs.md"
PAGES = [README, ROOT / "DEVELOPERS.md", *sorted(DOCS.glob("*.md"))]

README_MAX_LINES = 250

# Operators grep for these; a page that moves or a table that is rewritten must keep them.
STABLE_LOG_EVENTS = [
    "starting ocpp http server",
    "station connected",
    "meter values without session context",
    "sessions client returned non-success",
    "billing client returned non-success",
    "start session failed",
    "stop session failed",
    "failed to create billing transaction",
    "failed to store meter value",
]

PARSER = MarkdownIt("commonmark").enable("table")


@cache
def tokens(page: Path) -> list[Token]:
    """The page's block tokens and, flattened in order, their inline children."""
    flat: list[Token] = []
    for token in PARSER.parse(page.read_text(encoding="utf-8")):
        flat.append(token)
        flat.extend(token.children or [])
    return flat


def links(page: Path) -> list[str]:
    """Every link target and image source on the page, as written."""
    targets = []
    for token in tokens(page):
        if token.type == "link_open":
            targets.append(str(token.attrs["href"]))
        elif token.type == "image":
            targets.append(str(token.attrs["src"]))
    return targets


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    """The anchors of the page's headings; a repeated heading gets -1, -2, ... as on GitHub."""
    seen: Counter[str] = Counter()
    found = set()
    flat = tokens(page)
    for index, token in enumerate(flat):
        if token.type != "heading_open":
            continue
        inline = flat[index + 1]
        text = "".join(child.content for child in inline.children or [] if child.type in ("text", "code_inline"))
        base = slug(text)
        found.add(f"{base}-{seen[base]}" if seen[base] else base)
        seen[base] += 1
    return frozenset(found)


def broken(page: Path, target: str) -> str | None:
    """Why a relative target leads nowhere, or None when it resolves (or is not relative)."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    path = unquote(parts.path)
    resolved = (page.parent / path).resolve() if path else page
    if not resolved.exists():
        return f"{resolved.relative_to(ROOT) if resolved.is_relative_to(ROOT) else resolved} does not exist"
    if parts.fragment and resolved.suffix == ".md" and unquote(parts.fragment) not in anchors(resolved):
        return f"{resolved.relative_to(ROOT)} has no heading #{parts.fragment}"
    return None


def test_readme_stays_short() -> None:
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines (at most {README_MAX_LINES}): put the detail in a page under docs/ and link it"
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_and_images_resolve(page: Path) -> None:
    problems = [f"{target}: {why}" for target in links(page) if (why := broken(page, target))]
    assert not problems, f"{page.relative_to(ROOT)} links to what does not exist:\n" + "\n".join(problems)


def test_readme_links_every_docs_page() -> None:
    linked = {(README.parent / unquote(urlsplit(target).path)).resolve() for target in links(README)}
    missing = [page.name for page in DOCS.glob("*.md") if page.resolve() not in linked]
    assert not missing, f"README.md does not link these docs/ pages: {sorted(missing)}"


def log_event_names(page: Path) -> set[str]:
    """The code spans in the first column of the page's tables headed `event`."""
    names: set[str] = set()
    flat = tokens(page)
    in_event_table = first_cell = False
    for index, token in enumerate(flat):
        if token.type == "table_open":
            in_event_table = False
        elif token.type == "th_open" and first_cell:
            first_cell = False
            in_event_table = flat[index + 1].content.strip().lower() == "event"
        elif token.type == "tr_open":
            first_cell = True
        elif token.type == "td_open" and in_event_table and first_cell:
            first_cell = False
            names |= {child.content for child in flat[index + 1].children or [] if child.type == "code_inline"}
        elif token.type == "td_open":
            first_cell = False
    return names


def test_logs_page_lists_the_stable_events() -> None:
    listed = log_event_names(LOGS)
    missing = [name for name in STABLE_LOG_EVENTS if name not in listed]
    assert not missing, f"docs/logs.md's table lacks these stable log events: {missing}"


def test_logs_page_lists_every_event_another_page_lists() -> None:
    listed = log_event_names(LOGS)
    elsewhere = {
        f"{page.relative_to(ROOT)}: {name}" for page in PAGES if page != LOGS for name in log_event_names(page) - listed
    }
    assert not elsewhere, "log events listed elsewhere but not in docs/logs.md:\n" + "\n".join(sorted(elsewhere))
