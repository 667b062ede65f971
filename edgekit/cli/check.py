"""`edgekit check budget.toml`: gate CI on size, MAdds, latency, partitions and accuracy budgets."""

from __future__ import annotations

from pathlib import Path

import typer

from edgekit.cli.common import JsonOpt, console, err_console, print_json, show_progress

EXAMPLES = """Examples:

  edgekit check budget.toml

  edgekit check budget.toml --junit reports/budget.xml

  edgekit check budget.toml --json > check.json

Exit codes: 0 every limit holds, 1 a limit is exceeded, 2 the budget file or an artifact is wrong.
See examples/budget.toml for every key.
"""


def _fmt(x: float, unit: str) -> str:
    if unit == "MAdds":
        return f"{x:,.0f}"
    if unit == "partitions":
        return f"{x:.0f}"
    if unit == "x":
        return f"{x:.3f}x"
    return f"{x:,.2f} {unit}" if x >= 100 else f"{x:.3f} {unit}"


def check_cmd(
    budget: Path = typer.Argument(..., metavar="BUDGET.toml", help="Budget file (see examples/budget.toml)."),
    junit: Path = typer.Option(None, "--junit", help="Also write JUnit XML (one testcase per artifact x limit)."),
    force: bool = typer.Option(False, "--force", help="Overwrite --junit if it exists."),
    json_out: bool = JsonOpt,
):
    """Check every artifact of BUDGET.toml against its limits; exit 1 when one is exceeded.

    Latency limits are measured here, with every timed artifact interleaved in one run, so
    max_latency_ratio against a reference artifact holds up on a noisy CI machine.
    """
    from edgekit.budget.check import check_budget
    from edgekit.budget.junit import junit_xml
    from edgekit.budget.schema import load_budget
    from edgekit.fileio import check_writable, write_text_atomic

    spec = load_budget(budget)
    if junit is not None:
        check_writable([junit], force)
    if show_progress() and spec.needs_latency():
        from rich.progress import Progress

        with Progress(console=err_console, transient=True) as bar:
            task = bar.add_task("timing", total=None)
            report = check_budget(spec, progress=lambda done, total: bar.update(task, completed=done, total=total))
    else:
        report = check_budget(spec)
    if junit is not None:
        write_text_atomic(junit, junit_xml(report), force=force)

    if json_out:
        print_json(report.to_dict())
    else:
        from rich.table import Table

        table = Table(title=f"budget {budget}")
        for col in ("artifact", "limit", "measured", "budget", "", "how"):
            table.add_column(col, justify="right" if col in ("measured", "budget") else "left")
        for o in report.outcomes:
            op = ">=" if o.check == "min_accuracy" else "<="
            table.add_row(o.artifact, o.check, _fmt(o.value, o.unit), f"{op} {_fmt(o.limit, o.unit)}",
                          "[green]PASS[/]" if o.passed else "[bold red]FAIL[/]", o.detail)
        console.print(table)
        failed = [o for o in report.outcomes if not o.passed]
        if failed:
            console.print(f"[bold red]{len(failed)} of {len(report.outcomes)} limits exceeded[/]: "
                          + ", ".join(f"{o.artifact}.{o.check}" for o in failed))
        else:
            console.print(f"[green]all {len(report.outcomes)} limits hold[/]")
        if junit is not None:
            console.print(f"wrote {junit}")
    if not report.passed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("check", epilog=EXAMPLES)(check_cmd)
