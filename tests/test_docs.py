"""The docs stay true: generated blocks match their sources, every relative link resolves, the README is short.

Covers README.md and whatever docs/**/*.md exists, so a page added later is checked without editing this file.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GEN = ROOT / "scripts" / "gen_docs.py"
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _gen_docs():
    spec = importlib.util.spec_from_file_location("gen_docs", GEN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _prose(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code, with inline code spans removed: links there are examples."""
    out, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if not fenced:
            out.append((number, re.sub(r"`[^`]*`", "", line)))
    return out


def anchors(text: str) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens, -1/-2 for repeats."""
    seen: dict[str, int] = {}
    out = set()
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        match = None if fenced else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match[1].strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def broken_links(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    broken = []
    for number, line in _prose(text):
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:: not files
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            where = f"{page.relative_to(ROOT)}:{number}: {target}"
            if not file.exists():
                broken.append(f"{where}: no file {path}")
            elif anchor and file.suffix == ".md" and anchor not in anchors(file.read_text(encoding="utf-8")):
                broken.append(f"{where}: no heading #{anchor} in {file.relative_to(ROOT)}")
    return broken


def test_generated_blocks_match_their_sources():
    run = subprocess.run([sys.executable, str(GEN), "--check"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, (f"docs are stale: run python scripts/gen_docs.py\n{run.stdout}{run.stderr}")


def test_every_relative_link_and_anchor_resolves():
    pages = _pages()
    assert {p.name for p in pages} >= {"README.md", "index.md", "cli.md", "models-and-rewrites.md",
                                       "export-and-int8.md", "devices-and-arm.md", "benchmarks-and-budgets.md",
                                       "video.md", "sweeps-and-search.md"}
    broken = [b for page in pages for b in broken_links(page)]
    assert not broken, "\n".join(broken)


def test_readme_is_at_most_200_lines():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move detail to docs/"


def test_link_check_finds_a_broken_file_and_a_missing_heading(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Title\n\n## Set up and run (`pip`)\n\n## Set up and run (`pip`)\n")
    page = tmp_path / "README.md"
    page.write_text("[ok](docs/a.md#set-up-and-run-pip) [ok2](docs/a.md#set-up-and-run-pip-1) [web](https://x.y)\n"
                    "[gone](docs/b.md) [bad](docs/a.md#nowhere) [self](#title)\n"
                    "```\n[in code](nothere.md)\n```\n`[inline](nothere.md)`\n")
    assert broken_links(page) == ["README.md:2: docs/b.md: no file docs/b.md",
                                  "README.md:2: docs/a.md#nowhere: no heading #nowhere in docs/a.md",
                                  "README.md:2: #title: no heading #title in README.md"]


def test_check_names_the_stale_page_and_regenerating_fixes_it(tmp_path, monkeypatch, capsys):
    """A new benchmark run changes a results file: --check exits 1 naming each page that shows it."""
    gen = _gen_docs()
    shutil.copytree(ROOT / "benchmarks", tmp_path / "benchmarks", ignore=shutil.ignore_patterns("probes", "*.json"))
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    # cli.md left out: its help block would configure this process's terminal environment
    shutil.copytree(ROOT / "docs", tmp_path / "docs", ignore=shutil.ignore_patterns("cli.md"))
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    assert gen.main([]) == 0  # the copy current whatever the real tree's state (its own test says that)
    assert gen.main(["--check"]) == 0

    peer = tmp_path / "benchmarks" / "results" / "peer.md"
    row = "| micronet-m0 | fp32 | litert | 1 | 2.246 | 1.992 | 0.89 |"
    assert row in peer.read_text(encoding="utf-8")
    peer.write_text(peer.read_text(encoding="utf-8").replace(row, row.replace("0.89", "0.42")), encoding="utf-8")
    capsys.readouterr()
    assert gen.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert "stale: README.md" in err and "stale: docs/benchmarks-and-budgets.md" in err
    assert "stale: docs/devices-and-arm.md" not in err
    assert "run python scripts/gen_docs.py" in err
    assert "0.42" not in (tmp_path / "README.md").read_text(encoding="utf-8")  # --check writes nothing

    assert gen.main([]) == 0
    assert "| litert | 1 | 2.246 | 1.992 | 0.42 |" in (tmp_path / "README.md").read_text(encoding="utf-8")
    assert gen.main(["--check"]) == 0


def test_a_marker_whose_section_is_gone_is_one_error_line(tmp_path, monkeypatch, capsys):
    gen = _gen_docs()
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "results.md").write_text("# R\n\n## Kept\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    (tmp_path / "README.md").write_text('<!-- generated: results.md section="Gone" -->\n<!-- end generated -->\n')
    before = (tmp_path / "README.md").read_text()
    assert gen.main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: README.md: generated: results.md: section='Gone' matches 0")
    assert (tmp_path / "README.md").read_text() == before


@pytest.mark.parametrize("options, expected", [
    ("", ["| a | b | c |", "|---|---:|---|", "| x | 1 | p |", "| y | 2 | q |"]),
    ('rows="a=y"', ["| a | b | c |", "|---|---:|---|", "| y | 2 | q |"]),
    ('columns="c|b"', ["| c | b |", "|---|---:|", "| p | 1 |", "| q | 2 |"]),
])
def test_results_block_selects_rows_and_columns(tmp_path, monkeypatch, options, expected):
    gen = _gen_docs()
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    (tmp_path / "r.md").write_text("# R\n\n| a | b | c |\n|---|---:|---|\n| x | 1 | p |\n| y | 2 | q |\n")
    page = tmp_path / "README.md"
    text = f"<!-- generated: r.md {options} -->\n<!-- end generated -->\n"
    out = gen.render(page, text, lambda old: old).splitlines()
    assert out[2:2 + len(expected)] == expected
    assert "_Generated from [`r.md`](r.md)" in out[2 + len(expected) + 1]
