"""Every relative link of README.md and docs/**/*.md leads somewhere.

A link's file must exist, and a `#anchor` into a Markdown file must name one of its
headings as GitHub renders it (lowercase; characters other than letters, digits, spaces,
hyphens and underscores dropped; each space a hyphen; the second heading of a name gets
`-1`, the third `-2`). External links are not fetched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_CODE_SPAN_MULTILINE = re.compile(r"(`+)((?:(?!\n\s*\n).)+?)\1", re.DOTALL)
# [text](target) and ![alt](target); the target has no spaces here (none of ours has)
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def _outside_fences(text: str) -> Iterable[str]:
    """The lines of `text` that are not inside a fenced code block."""
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield line


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text (before de-duplication).

    >>> slug("Corrections by clicks (`--clicks`, the weight-free `classic` segmenter)")
    'corrections-by-clicks---clicks-the-weight-free-classic-segmenter'
    """
    text = _CODE_SPAN.sub(lambda m: m.group(2), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link shows its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.strip().lower()
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def slugs_of(text: str) -> set[str]:
    """Every heading anchor of a Markdown text, duplicates numbered as GitHub does."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for line in _outside_fences(text):
        m = _HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links_of(text: str) -> list[str]:
    """Link targets of a Markdown text, outside code blocks and code spans.

    A link's text may run over lines (`[lab\nlog](lab/x.md)`), so paragraphs are read
    whole; a code span may too, but not across a blank line."""
    prose = "\n".join(_outside_fences(text))
    prose = _CODE_SPAN_MULTILINE.sub("", prose)
    return [m.group(1) for m in _LINK.finditer(prose)]


def broken_links(paths: Iterable[Path]) -> list[str]:
    """'FILE: TARGET (why)' for each relative link that leads nowhere."""
    problems: list[str] = []
    for path in paths:
        for target in links_of(path.read_text(encoding="utf-8")):
            if _EXTERNAL.match(target):
                continue  # http(s), mailto: not fetched
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            if not dest.exists():
                problems.append(f"{path}: {target} (no such file)")
                continue
            if anchor and dest.suffix == ".md" and anchor not in slugs_of(
                    dest.read_text(encoding="utf-8")):
                problems.append(f"{path}: {target} (no heading #{anchor} in {file_part or path.name})")
    return problems


def documents() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def test_every_relative_link_of_the_readme_and_docs_leads_to_a_file_and_heading() -> None:
    assert broken_links(documents()) == []


def test_the_docs_are_checked_lab_logs_included() -> None:
    names = {p.relative_to(REPO).as_posix() for p in documents()}
    assert {"README.md", "docs/classic.md", "docs/lab/classic.md"} <= names


def test_a_link_to_a_heading_that_does_not_exist_is_reported(tmp_path: Path) -> None:
    (tmp_path / "guide.md").write_text("# Guide\n\n## Speed\n\ntext\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](guide.md#speed) [gone](guide.md#speeds) [self](#page)\n\n# Page\n")
    assert broken_links([page]) == [f"{page}: guide.md#speeds (no heading #speeds in guide.md)"]


@pytest.mark.parametrize(("text", "broken"), [
    ("[a](missing.md) ![b](missing.png) [c](https://example.com/x#y)\n",
     ["missing.md (no such file)", "missing.png (no such file)"]),  # external links are not fetched
    ("see the [lab\nlog](missing.md#a) for more\n", ["missing.md#a (no such file)"]),  # text over two lines
    ("`[a](missing.md)`\n\n```\n[b](missing.md)\n```\n", []),  # links inside code are not links
], ids=["missing file, external link", "text over two lines", "inside code"])
def test_a_link_to_a_missing_file_is_reported(tmp_path: Path, text: str, broken: list[str]) -> None:
    page = tmp_path / "page.md"
    page.write_text(text)
    assert broken_links([page]) == [f"{page}: {b}" for b in broken]


def test_anchors_follow_githubs_slug_rule() -> None:
    text = ("# A box's cuts (grabcut-9)\n## Speed\n### Speed\n```\n# not a heading\n```\n"
            "## `flow-preview` cuts too\n## Real video: `../shared/davis16`\n")
    assert slugs_of(text) == {"a-boxs-cuts-grabcut-9", "speed", "speed-1",
                              "flow-preview-cuts-too", "real-video-shareddavis16"}
