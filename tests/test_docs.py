"""The documentation's contract: a README a newcomer reads in minutes, a BENCHMARKS.md of the present, no commit ids
in prose (provenance lives in the results JSON), and no relative link that leads nowhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"
BENCHMARKS = REPO_ROOT / "BENCHMARKS.md"
DOCUMENTS = [README, BENCHMARKS, *sorted((REPO_ROOT / "docs").glob("*.md"))]

README_MAX_LINES = 200
BENCHMARKS_MAX_LINES = 500

COMMIT_ID = re.compile(r"\b(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b")
"""A word of 7-40 lowercase hex characters with at least one digit and one letter: a commit id, not a plain word."""

FENCED_BLOCK = re.compile(r"^(```|~~~).*?^\1", re.DOTALL | re.MULTILINE)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def commit_ids(text: str) -> list[str]:
    """Every commit-id-like word of ``text``."""
    return COMMIT_ID.findall(text)


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of ``markdown`` (lower case, punctuation dropped, spaces -> '-',
    a repeated heading gets '-1', '-2', ...); headings inside fenced code blocks are not headings."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for title in HEADING.findall(FENCED_BLOCK.sub("", markdown)):
        slug = re.sub(r"[^\w\- ]", "", title.replace("`", "").strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def broken_links(document: Path) -> list[str]:
    """Relative links of ``document`` (outside code) whose file does not exist, or whose anchor names no heading of
    the Markdown file it points to."""
    text = INLINE_CODE.sub("", FENCED_BLOCK.sub("", document.read_text(encoding="utf-8")))
    broken = []
    for target in LINK.findall(text):
        if EXTERNAL.match(target):
            continue
        path_part, _, anchor = target.partition("#")
        path = (document.parent / path_part).resolve() if path_part else document
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in github_anchors(path.read_text(encoding="utf-8")):
            broken.append(f"{target}: no heading with that anchor")
    return broken


def test_readme_is_short_and_says_how_to_install() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines (at most {README_MAX_LINES})"
    assert "## Install" in lines, "README.md needs an '## Install' heading"


def test_benchmarks_is_short() -> None:
    lines = BENCHMARKS.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= BENCHMARKS_MAX_LINES, f"BENCHMARKS.md has {len(lines)} lines (at most {BENCHMARKS_MAX_LINES})"


@pytest.mark.parametrize("document", [README, BENCHMARKS], ids=lambda path: path.name)
def test_no_commit_ids_in_prose(document: Path) -> None:
    found = commit_ids(document.read_text(encoding="utf-8"))
    assert not found, f"{document.name} names commits {found}: provenance belongs in benchmarks/results/*.json"


def test_commit_id_pattern_tells_ids_from_words() -> None:
    assert commit_ids("trained at 3dfcc4a, then fb0b436 and 8886e95c2f") == ["3dfcc4a", "fb0b436", "8886e95c2f"]
    assert commit_ids("arXiv:2503.15737 in 2026, a deadbeef or facade, 1e-4, cu128, ab12") == []
    assert commit_ids("ABC1234 in capitals, e0932d6") == ["e0932d6"]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_relative_links_lead_somewhere(document: Path) -> None:
    assert broken_links(document) == []


def test_link_checker_finds_a_broken_link(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Title\n\n## Some `code` section (with notes)\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md) [ok anchor](other.md#some-code-section-with-notes) [web](https://example.org/x)\n"
        "[missing](nowhere.md) [bad anchor](other.md#no-such-heading) `[in code](nowhere.md)`\n"
        "```\n[in a block](nowhere.md)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(page) == ["nowhere.md: no such file", "other.md#no-such-heading: no heading with that anchor"]
