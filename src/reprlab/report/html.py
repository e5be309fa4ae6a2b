"""``report.html``: one self-contained page for every ``<method>.json`` in a folder."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from reprlab.checkpoint import atomic_write_text
from reprlab.claims import VERDICTS
from reprlab.report.schema import load_method_json
from reprlab.report.text import format_measured, format_value

__all__ = ["build_html", "load_reports"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1d232a;
background:#fafbfc}
header{background:#22313f;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
nav{padding:8px 28px;background:#eef1f4;font-size:14px}nav a{margin-right:14px;color:#22313f}
main{padding:8px 28px 40px}section{background:#fff;border:1px solid #dde2e7;border-radius:8px;
padding:14px 20px;margin:18px 0}table{border-collapse:collapse;font-size:13px;margin:8px 0}
td,th{border:1px solid #dde2e7;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f2f4f6}.v-reproduced{background:#d9f2df}.v-partial{background:#fff3cd}
.v-not{background:#f8d7da}.v-notrun{background:#e2e6ea}td.num{text-align:right}
table.detail{font-size:12px;margin:4px 0}tr.note td{border-top:none;color:#555}
td.verdict{font-weight:600;white-space:nowrap}
figure{display:inline-block;margin:8px 12px 8px 0;max-width:100%}
figure img{max-width:720px;width:100%;border:1px solid #eee}
figcaption{font-size:12px;color:#555;max-width:720px}
code,pre{font-size:12px}details{margin:6px 0}.small{font-size:12px;color:#555}
"""


def _fmt(value: Any) -> str:
    """A table cell: numbers formatted, links kept, anything else as short text."""
    if isinstance(value, dict) and "href" in value:
        # a relative link to a file the method wrote next to the report (e.g. a browser)
        return (f"<a href='{html.escape(str(value['href']), quote=True)}'>"
                f"{html.escape(str(value.get('text', value['href'])))}</a>")
    return html.escape(format_value(value))


def _detail_table(detail: Any) -> str:
    """Per-setting values as a small table: {k: v} → 2 columns; {row: {col: v}} → a grid."""
    if not isinstance(detail, dict) or not detail:
        return "" if detail in (None, {}, []) else f"<div class=small>{_fmt(detail)}</div>"
    rows = list(detail.items())
    if all(isinstance(v, dict) for _, v in rows):
        cols: list[str] = []
        for _, v in rows:
            cols += [c for c in v if c not in cols]
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
        body = "".join(f"<tr><th>{html.escape(str(k))}</th>"
                       + "".join(f"<td>{_fmt(v.get(c))}</td>" for c in cols) + "</tr>"
                       for k, v in rows)
        return f"<table class=detail><tr><th></th>{head}</tr>{body}</table>"
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_fmt(v)}</td></tr>"
                   for k, v in rows)
    return f"<table class=detail>{body}</table>"


def _measured_cell(measured: dict[str, Any]) -> str:
    labels = measured.get("labels") or {}
    value = measured.get("value")
    if isinstance(value, dict) and labels:
        spread = measured.get("spread") or {}
        unit = measured.get("unit") or {}
        lines = []
        for k, v in value.items():
            text = format_value(v, spread.get(k) if isinstance(spread, dict) else None,
                                unit.get(k, "") if isinstance(unit, dict) else "")
            lines.append(f"{html.escape(labels.get(k, k))}: <b>{html.escape(text)}</b>")
        main = "<br>".join(lines)
        if (measured.get("seeds") or 0) > 1:
            main += f"<br><span class=small>mean ± sd, {measured['seeds']} seeds</span>"
    else:
        main = f"<b>{html.escape(format_measured(measured))}</b>"
    return (main + _detail_table(measured.get("detail"))
            + f"<br><span class=small>{html.escape(str(measured.get('dataset', '')))}</span>")


def _figures(out: Path, data: dict[str, Any], source: Path) -> str:
    figs = []
    for f in data.get("figures", []):
        path = out / f["file"]
        if not path.is_file():
            raise ValueError(f"{source}: figure {f['file']!r} is missing; rerun `reprlab "
                             f"reproduce {data['method']} --out {out}`")
        b64 = base64.b64encode(path.read_bytes()).decode()
        figs.append(
            f"<figure><img alt='{html.escape(f['title'], quote=True)}' "
            f"src='data:image/png;base64,{b64}'><figcaption><b>{html.escape(f['title'])}</b> "
            f"{html.escape(f.get('caption', ''))}</figcaption></figure>")
    return "".join(figs)


def _section(out: Path, data: dict[str, Any], source: Path) -> str:
    name = html.escape(data["method"])
    rows = []
    for c in data["claims"]:
        cls = _VERDICT_CLASS[c["verdict"]]
        crit = c.get("criterion") or {}
        extra = []
        if c.get("baseline") and c["baseline"] != "—":
            extra.append(f"<b>baseline</b> {html.escape(c['baseline'])}")
        if c.get("control") and c["control"] != "—":
            extra.append(f"<b>control</b> {html.escape(c['control'])}")
        if c.get("note"):
            extra.append(html.escape(c["note"]))
        rows.append(
            f"<tr class=claim><td><b>{html.escape(c['name'])}</b></td>"
            f"<td>{_fmt(c['paper']['value'])}<br><span class=small>"
            f"{html.escape(str(c['paper']['dataset']))}</span></td>"
            f"<td>{_measured_cell(c['measured'])}</td>"
            f"<td class=small>reproduced: {html.escape(crit.get('reproduced', '—'))}<br>"
            f"partial: {html.escape(crit.get('partial', '—'))}</td>"
            f"<td class='verdict {cls}'>{html.escape(c['verdict'])}</td></tr>"
            f"<tr class=note><td colspan=5 class=small>{'<br>'.join(extra)}</td></tr>")
    tables = []
    for tname, trows in (data.get("tables") or {}).items():
        if not trows:
            continue
        cols: list[str] = []
        for r in trows:
            cols += [k for k in r if k not in cols]
        head = "".join(f"<th>{html.escape(str(k))}</th>" for k in cols)
        body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(k, ''))}</td>" for k in cols)
                       + "</tr>" for r in trows)
        tables.append(f"<h4>{html.escape(tname)}</h4><table><tr>{head}</tr>{body}</table>")
    config = html.escape(json.dumps(data.get("config", {}), indent=1, default=str))
    results = html.escape(json.dumps(data.get("results", {}), indent=1, default=str))
    summary = (f"<p>{html.escape(data['summary'])}</p>" if data.get("summary") else "")
    return (
        f"<section id='{name}'><h2>{name}</h2>{summary}"
        f"<p class=small>config {html.escape(str(data.get('config_name', '')))}, seed "
        f"{data.get('seed', 0)}, {data.get('seconds', 0):.1f} s</p>"
        "<table class=claims><tr><th>claim</th><th>paper</th><th>ours</th><th>criterion</th>"
        f"<th>verdict</th></tr>{''.join(rows)}</table>"
        f"{''.join(tables)}{_figures(out, data, source)}"
        f"<details><summary>config</summary><pre>{config}</pre></details>"
        f"<details><summary>results</summary><pre>{results}</pre></details></section>"
    )


_VERDICT_CLASS = {"reproduced": "v-reproduced", "partial": "v-partial",
                  "not reproduced": "v-not", "not run": "v-notrun"}


def load_reports(out_dir: str | Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every ``<out>/*.json`` as a checked method report; a bad file raises naming it."""
    out = Path(out_dir)
    if not out.is_dir():
        raise FileNotFoundError(f"report folder {out} does not exist; run `reprlab reproduce "
                                f"--out {out}` first")
    reports = [(path, load_method_json(path)) for path in sorted(out.glob("*.json"))]
    if not reports:
        raise FileNotFoundError(f"no method results (<method>.json) in {out}; run `reprlab "
                                f"reproduce --out {out}` first")
    return reports


def build_html(out_dir: str | Path) -> Path:
    """Gather every ``<out>/<method>.json`` into ``<out>/report.html`` (figures embedded).

    Every top-level JSON file of the folder must be a method report: a truncated or invalid
    one raises ``ValueError`` naming it (it is never silently dropped).
    """
    out = Path(out_dir)
    reports = load_reports(out)
    totals = dict.fromkeys(VERDICTS, 0)
    summary_rows = []
    for _, d in reports:
        counts = {v: sum(c["verdict"] == v for c in d["claims"]) for v in VERDICTS}
        for v, n in counts.items():
            totals[v] += n
        m = html.escape(d["method"])
        summary_rows.append(
            f"<tr><td><a href='#{m}'>{m}</a></td><td>{html.escape(d.get('summary') or '')}</td>"
            + "".join(f"<td class=num>{counts[v]}</td>" for v in VERDICTS)
            + f"<td class=num>{d.get('seconds', 0):.0f}</td></tr>")
    judged = sum(totals[v] for v in VERDICTS[:3])
    headline = (f"<p id=counts><b>{judged}</b> claims judged: "
                f"<span class=v-reproduced>{totals['reproduced']} reproduced</span>, "
                f"<span class=v-partial>{totals['partial']} partial</span>, "
                f"<span class=v-not>{totals['not reproduced']} not reproduced</span>; "
                f"<span class=v-notrun>{totals['not run']} not run</span> (data or hardware "
                "out of reach here; not counted as failures).</p>")
    nav = "".join(f"<a href='#{html.escape(d['method'])}'>{html.escape(d['method'])}</a>"
                  for _, d in reports)
    page = (
        "<!doctype html><html lang=en><head><meta charset='utf-8'><title>reprlab report</title>"
        f"<style>{_CSS}</style></head><body><header><h1>reprlab reproduction report</h1>"
        "</header>"
        f"<nav>{nav}</nav><main><section id=summary><h2>Summary</h2>{headline}"
        "<table><tr><th>method</th><th>what it showed</th><th>reproduced</th><th>partial</th>"
        "<th>not reproduced</th><th>not run</th><th>seconds</th></tr>"
        f"{''.join(summary_rows)}</table></section>"
        f"{''.join(_section(out, d, p) for p, d in reports)}</main></body></html>"
    )
    return atomic_write_text(out / "report.html", page)
