"""A budget check as JUnit XML: one testcase per artifact × limit, so CI shows each limit."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from edgekit.budget.check import CheckReport


def _fmt(x) -> str:
    return f"{x:,.0f}" if isinstance(x, (int, float)) and abs(x) >= 1000 else f"{x:.4g}"


def junit_xml(report: CheckReport) -> str:
    failures = sum(not o.passed for o in report.outcomes)
    suite = ET.Element("testsuite", name="edgekit budget", tests=str(len(report.outcomes)), failures=str(failures),
                       errors="0", skipped="0")
    ET.SubElement(ET.SubElement(suite, "properties"), "property", name="budget", value=report.budget)
    for o in report.outcomes:
        case = ET.SubElement(suite, "testcase", classname=f"budget.{o.artifact}", name=o.check, time="0")
        op = ">=" if o.check == "min_accuracy" else "<="
        text = f"{o.artifact} {o.check}: {_fmt(o.value)} {o.unit} (limit {op} {_fmt(o.limit)})"
        if o.detail:
            text += f"; {o.detail}"
        if o.passed:
            ET.SubElement(case, "system-out").text = text
        else:
            failure = ET.SubElement(case, "failure", message=text, type="BudgetExceeded")
            failure.text = text
    suites = ET.Element("testsuites", name="edgekit check", tests=suite.get("tests"), failures=str(failures))
    suites.append(suite)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
