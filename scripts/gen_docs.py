"""Regenerate the generated blocks of README.md and docs/*.md; `--check` fails on drift.

A page marks a generated block with two HTML comments (invisible on GitHub):

    <!-- generated: cli-help -->                      every `edgekit ... --help`, as a user sees it
    <!-- generated: benchmarks/results/peer.md -->    the Markdown tables of a results file
    ...
    <!-- end generated -->

A results block takes options after the path, each key="value":
  section="MicroNet M0-M3"   only the tables under the heading that starts with this text
  table="2"                  only the Nth of those tables (1-based)
  rows="model=micronet-m0"   only the rows whose column equals one of the values (v1,v2,...)
  columns="runtime|threads"  only these columns, in this order (| separates: headers hold commas)

Everything between the markers is rewritten from the source each run, so numbers are never pasted:
edit the results file (the benchmark script writes it), then run `python scripts/gen_docs.py`.

    python scripts/gen_docs.py           # rewrite every stale page
    python scripts/gen_docs.py --check   # exit 1 and name each stale page; nothing written

The CLI help is rendered the way `edgekit CMD --help` prints it, at a fixed 100 columns without
colour or terminal detection, so it is the same on every machine with the same typer and rich.
Rich's layout changes between versions, so docs/cli.md records the versions it was made with and
`--check` compares it only where they match (it says so otherwise).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIDTH = "100"
BEGIN = re.compile(r"^<!-- generated: (?P<spec>.+?) -->\s*$")
END = "<!-- end generated -->"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
VERSIONS_LINE = re.compile(r"^_Rendered with (?P<versions>.+?) at \d+ columns")


class DocsError(Exception):
    """A page or a results file is not what a marker asks for (a user mistake: exit 2)."""


def pages() -> list[Path]:
    """README.md and every docs page: whatever *.md exists, so a new page is covered too."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


# ---------------------------------------------------------------- CLI help


def _plain_help_env() -> None:
    # Must run before typer is imported: typer.rich_utils reads these at import time. A CI that sets
    # GITHUB_ACTIONS or FORCE_COLOR would otherwise force a terminal and colour codes.
    for var in ("GITHUB_ACTIONS", "FORCE_COLOR", "PY_COLORS", "CLICOLOR_FORCE"):
        os.environ.pop(var, None)
    os.environ.update(COLUMNS=WIDTH, TERMINAL_WIDTH=WIDTH, LINES="50", TERM="dumb", NO_COLOR="1",
                      _TYPER_FORCE_DISABLE_TERMINAL="1")


def _versions() -> str:
    from importlib.metadata import version

    return ", ".join(f"{name} {version(name)}" for name in ("typer", "rich", "click"))


def _command_paths(group, prefix=()) -> list[tuple[str, ...]]:
    """Every command path in --help order: the app, each command, each sub-app and its commands."""
    paths = [prefix]
    for name, cmd in group.commands.items():
        if getattr(cmd, "hidden", False):
            continue
        if hasattr(cmd, "commands"):
            paths += _command_paths(cmd, prefix + (name,))
        else:
            paths.append(prefix + (name,))
    return paths


def cli_help_block() -> str:
    _plain_help_env()
    import typer
    from typer.testing import CliRunner

    from edgekit.cli.app import app

    runner = CliRunner()
    paths = _command_paths(typer.main.get_command(app))
    titles = [" ".join(("edgekit", *path)) for path in paths]
    parts = [f"_Rendered with {_versions()} at {WIDTH} columns by `python scripts/gen_docs.py` from each "
             "command's own `--help`; do not edit by hand._", "",
             # GitHub's heading ids for "### `edgekit device setup`": the backticks drop, spaces become '-'
             " · ".join(f"[`{t}`](#{t.replace(' ', '-')})" for t in titles), ""]
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], prog_name="edgekit", color=False)
        if result.exit_code != 0:
            raise DocsError(f"edgekit {' '.join(path)} --help exited {result.exit_code}: "
                            f"{(result.output or str(result.exception)).strip()[:200]}")
        lines = [ANSI.sub("", line).rstrip() for line in result.output.splitlines()]
        while lines and not lines[0]:
            lines.pop(0)
        while lines and not lines[-1]:
            lines.pop()
        title = " ".join(("edgekit", *path))
        parts += [f"### `{title}`", "", "```text", *lines, "```", ""]
    return "\n".join(parts).rstrip("\n")


# ---------------------------------------------------------------- results tables


def _sections(text: str) -> list[tuple[str, list[str]]]:
    """(heading text, lines) per heading of a Markdown file; fenced code is not a heading."""
    out: list[tuple[str, list[str]]] = [("", [])]
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and re.match(r"^#{1,6} ", line):
            out.append((line.lstrip("#").strip(), []))
        else:
            out[-1][1].append(line)
    return out


def _tables(lines: list[str]) -> list[list[str]]:
    tables, current = [], []
    for line in lines + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            if len(current) >= 2 and re.match(r"^\|[\s:|-]+\|$", current[1].strip()):
                tables.append(current)
            current = []
    return tables


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _filter(table: list[str], rows: str | None, columns: str | None, where: str) -> list[str]:
    header, rule, body = _cells(table[0]), _cells(table[1]), [_cells(r) for r in table[2:]]
    if rows:
        column, _, values = rows.partition("=")
        if column not in header:
            raise DocsError(f"{where}: rows={rows!r}: no column {column!r} (columns: {', '.join(header)})")
        keep = set(values.split(","))
        body = [r for r in body if len(r) > header.index(column) and r[header.index(column)] in keep]
        if not body:
            raise DocsError(f"{where}: rows={rows!r} matches no row")
    if columns:
        wanted = columns.split("|")
        missing = [c for c in wanted if c not in header]
        if missing:
            raise DocsError(f"{where}: columns: no column {missing[0]!r} (columns: {', '.join(header)})")
        idx = [header.index(c) for c in wanted]
        header, rule = wanted, [rule[i] for i in idx]
        body = [[r[i] if i < len(r) else "" for i in idx] for r in body]
        return [_row(header), "|" + "|".join(rule) + "|", *(_row(r) for r in body)]
    return [table[0], table[1], *(_row(r) for r in body)] if rows else table


def results_block(source: str, options: dict[str, str], page: Path) -> str:
    where = f"{page.relative_to(ROOT)}: generated: {source}"
    path = ROOT / source
    if not path.is_file():
        raise DocsError(f"{where}: no such results file")
    unknown = set(options) - {"section", "table", "rows", "columns"}
    if unknown:
        raise DocsError(f"{where}: unknown option {sorted(unknown)[0]!r} (section, table, rows, columns)")
    sections = _sections(path.read_text(encoding="utf-8"))
    if "section" in options:
        chosen = [s for s in sections if s[0].startswith(options["section"])]
        if len(chosen) != 1:
            raise DocsError(f"{where}: section={options['section']!r} matches {len(chosen)} headings, "
                            f"not 1 (headings: {'; '.join(s[0] for s in sections if s[0])})")
        sections = chosen
    tables = [t for _, lines in sections for t in _tables(lines)]
    if "table" in options:
        n = int(options["table"]) if options["table"].isdigit() else 0
        if not 1 <= n <= len(tables):
            raise DocsError(f"{where}: table={options['table']!r}, but there are {len(tables)} tables")
        tables = [tables[n - 1]]
    if not tables:
        raise DocsError(f"{where}: no Markdown table there")
    link = os.path.relpath(path, page.parent)
    script = ROOT / "benchmarks" / (path.stem + ".py")
    made_by = f", which `python {script.relative_to(ROOT)}` writes" if script.is_file() else ""
    out = []
    for table in tables:
        out += _filter(table, options.get("rows"), options.get("columns"), where) + [""]
    out.append(f"_Generated from [`{source}`]({link}){made_by}; run `python scripts/gen_docs.py` "
               "after a new run, do not edit here._")
    return "\n".join(out)


# ---------------------------------------------------------------- pages


def render(page: Path, text: str, cli_help) -> str:
    """The page with every generated block rewritten from its source."""
    lines = text.split("\n")
    out, i = [], 0
    while i < len(lines):
        match = BEGIN.match(lines[i])
        out.append(lines[i])
        i += 1
        if not match:
            continue
        end = next((j for j in range(i, len(lines)) if lines[j].strip() == END), None)
        if end is None:
            raise DocsError(f"{page.relative_to(ROOT)}:{i}: '{lines[i - 1].strip()}' has no '{END}'")
        source, *opts = shlex.split(match["spec"])
        options = {}
        for opt in opts:
            key, eq, value = opt.partition("=")
            if not eq:
                raise DocsError(f"{page.relative_to(ROOT)}:{i}: option {opt!r} is not key=\"value\"")
            options[key] = value
        if source == "cli-help":
            if options:
                raise DocsError(f"{page.relative_to(ROOT)}:{i}: cli-help takes no options")
            body = cli_help("\n".join(lines[i:end]).strip("\n"))
        else:
            body = results_block(source, options, page)
        out += ["", body, "", END]
        i = end + 1
    return "\n".join(out)


def _versions_of(text: str) -> str | None:
    for line in text.splitlines():
        match = VERSIONS_LINE.match(line)
        if match:
            return match["versions"]
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 on drift, naming each stale page; write nothing")
    args = ap.parse_args(argv)

    cache: dict[str, str] = {}
    stale, skipped = [], []

    def cli_help(old: str) -> str:  # rendered once, and only when a page asks for it
        made_with = _versions_of(old)
        if args.check and made_with not in (None, _versions()):
            # Another typer/rich lays the same help out differently: that is not drift in the docs,
            # so the block is left as it is (the rest of the page is still compared).
            skipped.append(f"the CLI help (made with {made_with}; this machine has {_versions()})")
            return old
        if "cli" not in cache:
            cache["cli"] = cli_help_block()
        return cache["cli"]

    changed = []
    try:  # every page rendered before any is written: a bad marker leaves all of them as they were
        for page in pages():
            text = page.read_text(encoding="utf-8")
            new = render(page, text, cli_help)
            if new != text:
                changed.append((page, new))
    except DocsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for page, new in changed:
        name = str(page.relative_to(ROOT))
        if args.check:
            stale.append(name)
            continue
        tmp = page.with_name(f".{page.name}.tmp")
        tmp.write_text(new, encoding="utf-8")
        os.replace(tmp, page)  # atomic: a reader never sees half a page
        print(f"wrote {name}")
    for name in skipped:
        print(f"not compared: {name}", file=sys.stderr)
    if stale:
        for name in stale:
            print(f"stale: {name}", file=sys.stderr)
        print("error: generated docs are out of date: run python scripts/gen_docs.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
