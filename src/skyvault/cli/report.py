"""``skyvault report [--format table|json|html] [--output FILE]``: the protection report (``engine.report``).

The HTML report is one self-contained file: inline CSS and an inline SVG chart of protection over time, no script,
no external asset (it opens from a mail attachment or an air-gapped share).
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from skyvault.cli.context import AppState, state
from skyvault.cli.tables import Column, print_table
from skyvault.errors import ConfigError


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    HTML = "html"


def register(root: typer.Typer) -> None:
    @root.command("report")
    def report_command(
        ctx: typer.Context,
        fmt: Annotated[Format, typer.Option("--format", help="table, json or html.")] = Format.TABLE,
        output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file (else stdout).")] = None,
    ) -> None:
        """Protection report (table, json, html)."""
        st = state(ctx)
        data = _build(st)
        chosen = Format.JSON if st.json_output and fmt is Format.TABLE else fmt
        if chosen is Format.TABLE:
            if output is not None:
                raise typer.BadParameter("a table goes to the terminal: use --format json|html", param_hint="--output")
            _table(st, data)
            return
        import json

        text = json.dumps(data, indent=2, default=str) + "\n" if chosen is Format.JSON else render_html(data)
        if output is None:
            typer.echo(text, nl=False)
            return
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{output}: cannot write: {exc.strerror}") from None
        st.err_console.print(f"report written to {output}", highlight=False)


def _build(st: AppState) -> dict[str, Any]:
    from skyvault.cli.library import open_library
    from skyvault.engine.report import build_report
    from skyvault.library.stats import library_stats

    def stats(name: str) -> dict[str, Any]:
        repo = open_library(st, name)
        try:
            with repo.lock(purpose="report"):
                return library_stats(repo)
        finally:
            repo.close()

    return build_report(st.factory(), st.catalog_if_any(), now=datetime.now(UTC), library_stats=stats)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _table(st: AppState, data: dict[str, Any]) -> None:
    columns = [Column("account", hide_rank=3), Column("region", hide_rank=4), Column("service"),
               Column("id", identifier=True), Column("plans", hide_rank=2), Column("last good", hide_rank=5),
               Column("age"), Column("RPO"), Column("status"), Column("failures", hide_rank=1)]  # fmt: skip
    rows = [
        [r["account"], r["region"], r["service"], r["id"], ", ".join(r["plans"]),
         r["last_good"]["recovery_point"] if r["last_good"] else "-",
         _age(r["last_good"]["age_s"] if r["last_good"] else None), _age(r["rpo_s"]), r["status"],
         f"{r['failures_since_last_good']}: {(r['failures'][0]['error'] or '')[:60]}" if r["failures"] else "-"]
        for r in data["resources"]
    ]  # fmt: skip
    print_table(st.table_console, "protected resources", columns, rows)
    if data["unprotected"]:
        print_table(
            st.table_console, "unprotected (in no plan)",
            [Column("account"), Column("region"), Column("service"), Column("id", identifier=True), Column("name")],
            [[u["account"], u["region"], u["service"], u["id"], u["name"] or "-"] for u in data["unprotected"]],
        )  # fmt: skip
    plan_columns = [Column("plan", identifier=True), Column("jobs", justify="right"), Column("success"),
                    Column("mean duration"), Column("runs", justify="right"), Column("missed", justify="right"),
                    Column("failed runs", justify="right")]  # fmt: skip
    plan_rows = [
        [p["plan"], str(p["jobs"]), f"{p['success_rate']:.0%}" if p["success_rate"] is not None else "-",
         f"{p['mean_duration_s']:.1f} s" if p["mean_duration_s"] is not None else "-", str(p["runs"]),
         str(p["missed_runs"]), str(p["failed_runs"])]
        for p in data["plans"]
    ]  # fmt: skip
    print_table(st.table_console, "plans", plan_columns, plan_rows)
    if data["libraries"]:
        print_table(
            st.table_console, "libraries", [Column("library"), Column("logical"), Column("stored"), Column("ratio")],
            [[lib["library"], f"{lib.get('logical_bytes', 0):,}" if "error" not in lib else lib["error"],
              f"{lib.get('stored_bytes', 0):,}" if "error" not in lib else "-", str(lib.get("ratio") or "-")]
             for lib in data["libraries"]],
        )  # fmt: skip
    for failure in data["discovery_failures"]:
        st.err_console.print(f"[yellow]discovery failed[/yellow] {failure}", highlight=False)


def chart_svg(days: list[dict[str, Any]], *, width: int = 720, height: int = 200) -> str:
    """An inline SVG bar chart of the share of protected resources per day (no script, no external asset)."""
    left, bottom, top = 40, 30, 10
    plot_w, plot_h = width - left - 10, height - bottom - top
    bar = plot_w / max(1, len(days))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="share of protected resources per day">',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#888"/>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#888"/>',
    ]
    for tick in (0, 50, 100):
        y = top + plot_h * (1 - tick / 100)
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{tick}%</text>')
    for i, day in enumerate(days):
        ratio = day["ratio"]
        x = left + i * bar + 1
        if ratio is None:
            continue
        h = plot_h * ratio
        colour = "#2e7d32" if ratio >= 0.999 else "#f9a825" if ratio >= 0.8 else "#c62828"
        parts.append(
            f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{max(1.0, bar - 2):.1f}" height="{h:.1f}" '
            f'fill="{colour}"><title>{html.escape(day["date"])}: {day["protected"]}/{day["total"]}</title></rect>'
        )
    for i in (0, len(days) - 1):
        if days:
            x = left + i * bar + bar / 2
            label = html.escape(days[i]["date"])
            parts.append(f'<text x="{x:.1f}" y="{height - 10}" font-size="10" text-anchor="middle">{label}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _html_table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(data: dict[str, Any]) -> str:
    resources = [
        [r["account"], r["region"], r["service"], r["id"], ", ".join(r["plans"]),
         r["last_good"]["recovery_point"] if r["last_good"] else "-",
         _age(r["last_good"]["age_s"] if r["last_good"] else None), _age(r["rpo_s"]), r["status"],
         "; ".join(f"{f['at'][:16]} {f['error']}" for f in r["failures"]) or "-"]
        for r in data["resources"]
    ]  # fmt: skip
    plans = [[p["plan"], p["jobs"], f"{p['success_rate']:.0%}" if p["success_rate"] is not None else "-",
              p["mean_duration_s"] if p["mean_duration_s"] is not None else "-", p["runs"], p["missed_runs"],
              p["failed_runs"]] for p in data["plans"]]  # fmt: skip
    libraries = [[lib["library"], lib.get("logical_bytes", "-"), lib.get("stored_bytes", "-"),
                  lib.get("ratio") or lib.get("error", "-")] for lib in data["libraries"]]  # fmt: skip
    unprotected = [[u["account"], u["region"], u["service"], u["id"], u["name"] or "-"] for u in data["unprotected"]]
    style = (
        "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin-bottom:1.5em}"
        "th,td{border:1px solid #ccc;padding:4px 8px;font-size:13px;text-align:left}th{background:#f0f0f0}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>skyvault protection report</title>'
        f"<style>{style}</style></head><body>"
        f"<h1>skyvault protection report</h1><p>generated {html.escape(data['generated_at'])}</p>"
        f"<h2>Protection over time</h2>{chart_svg(data['protection_over_time'])}"
        "<h2>Protected resources</h2>"
        + _html_table(
            [
                "account",
                "region",
                "service",
                "id",
                "plans",
                "last good point",
                "age",
                "RPO",
                "status",
                "failures since",
            ],
            resources,
        )
        + "<h2>Unprotected (in no plan)</h2>"
        + _html_table(["account", "region", "service", "id", "name"], unprotected)
        + "<h2>Plans</h2>"
        + _html_table(["plan", "jobs", "success", "mean duration (s)", "runs", "missed", "failed runs"], plans)
        + "<h2>Libraries</h2>"
        + _html_table(["library", "logical bytes", "stored bytes", "ratio"], libraries)
        + "</body></html>\n"
    )
