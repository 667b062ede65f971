"""check, report and the remote modules run without ever importing torch (a CI box or a Pi may not have it)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_check_report_and_remote_never_import_torch(models, tmp_path):
    budget = tmp_path / "b.toml"
    budget.write_text(textwrap.dedent(f"""
        [settings]
        runs = 5
        warmup = 1
        [artifacts.small]
        file = "{models['small']}"
        max_madds = 30000
        max_latency_ms = 10000
        [artifacts.one]
        file = "{models['one']}"
        max_partitions = 1
        """))
    code = textwrap.dedent(f"""
        import json, sys
        from pathlib import Path
        import edgekit.runtimes.remote.ssh, edgekit.runtimes.remote.adb
        from edgekit.budget.check import check_budget
        from edgekit.budget.schema import load_budget
        from edgekit.report.build import build_report
        from edgekit.report.load import load_results
        report = check_budget(load_budget({str(budget)!r}))
        assert report.passed, report.to_dict()
        out = Path({str(tmp_path)!r})
        (out / "check.json").write_text(json.dumps(report.to_dict()))
        build_report(load_results([out / "check.json"]), out / "report")
        print(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")))
        """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    assert (tmp_path / "report" / "index.md").is_file()
