"""``report.html``: one self-contained page for every ``<method>.json`` in a folder."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from reprlab.report.schema import load_method_json

__all__ = ["build_html"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1d232a;
background:#fafbfc}
header{background:#22313f;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
nav{padding:8px 28px;background:#eef1f4;font-size:14px}nav a{margin-right:14px;color:#22313f}
main{padding:8px 28px 40px}section{background:#fff;border:1px solid #dde2e7;border-radius:8px;
padding:14px 20px;margin:18px 0}table{border-collapse:collapse;font-size:13px;margin:8px 0}
td,th{border:1px solid #dde2e7;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f2f4f6}.v-reproduced{background:#d9f2df}.v-partial{background:#fff3cd}
.v-not{background:#f8d7da}figure{display:inline-block;margin:8px 12px 8px 0;max-width:100%}
figure img{max-width:720px;width:100%;border:1px solid #eee}
figcaption{font-size:12px;color:#555;max-width:720px}
code,pre{font-size:12px}details{margin:6px 0}.small{font-size:12px;color:#555}
"""


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict) and "href" in value:
        # a relative link to a file the method wrote next to the report (e.g. a browser)
        return (f"<a href='{html.escape(str(value['href']), quote=True)}'>"
                f"{html.escape(str(value.get('text', value['href'])))}</a>")
    if isinstance(value, (dict, list)):
        return html.escape(json.dumps(value, default=str)[:600])
    return html.escape(str(value))


def _section(out: Path, data: dict[str, Any]) -> str:
    name = html.escape(data["method"])
    rows = []
    for c in data["claims"]:
        cls = {"reproduced": "v-reproduced", "partial": "v-partial"}.get(c["verdict"], "v-not")
        rows.append(
            "<tr>"
            f"<td>{html.escape(c['name'])}</td>"
            f"<td>{_fmt(c['paper']['value'])}<br><span class=small>"
            f"{html.escape(str(c['paper']['dataset']))}</span></td>"
            f"<td>{_fmt(c['measured']['value'])}<br><span class=small>"
            f"{html.escape(str(c['measured']['dataset']))}</span></td>"
            f"<td class={cls}>{html.escape(c['verdict'])}</td>"
            f"<td class=small>{html.escape(c.get('note', ''))}</td></tr>"
        )
    figs = []
    for f in data.get("figures", []):
        path = out / f["file"]
        if not path.exists():
            continue
        b64 = base64.b64encode(path.read_bytes()).decode()
        figs.append(
            f"<figure><img alt='{html.escape(f['title'])}' src='data:image/png;base64,{b64}'>"
            f"<figcaption><b>{html.escape(f['title'])}</b> {html.escape(f.get('caption', ''))}"
            "</figcaption></figure>"
        )
    tables = []
    for tname, trows in (data.get("tables") or {}).items():
        if not trows:
            continue
        cols = list(trows[0].keys())
        head = "".join(f"<th>{html.escape(str(k))}</th>" for k in cols)
        body = "".join(
            "<tr>" + "".join(f"<td>{_fmt(r.get(k, ''))}</td>" for k in cols) + "</tr>"
            for r in trows
        )
        tables.append(f"<h4>{html.escape(tname)}</h4><table><tr>{head}</tr>{body}</table>")
    config = html.escape(json.dumps(data.get("config", {}), indent=1, default=str))
    return (
        f"<section id='{name}'><h2>{name}</h2>"
        f"<p class=small>{data.get('seconds', 0):.1f} s</p>"
        "<table><tr><th>claim</th><th>paper</th><th>measured</th><th>verdict</th>"
        f"<th>note</th></tr>{''.join(rows)}</table>"
        f"{''.join(tables)}{''.join(figs)}"
        f"<details><summary>config</summary><pre>{config}</pre></details></section>"
    )


def build_html(out_dir: str | Path) -> Path:
    """Gather every ``<out>/<method>.json`` into ``<out>/report.html`` (figures embedded)."""
    out = Path(out_dir)
    if not out.is_dir():
        raise FileNotFoundError(f"report folder {out} does not exist; run `reprlab reproduce "
                                f"--out {out}` first")
    datas = []
    for path in sorted(out.glob("*.json")):
        try:
            datas.append(load_method_json(path))
        except (ValueError, KeyError, json.JSONDecodeError):
            continue  # other JSON files (e.g. a factor browser's index) are not method reports
    if not datas:
        raise FileNotFoundError(f"no method results (<method>.json) in {out}; run `reprlab "
                                f"reproduce --out {out}` first")
    summary_rows = []
    for d in datas:
        counts = {v: sum(c["verdict"] == v for c in d["claims"])
                  for v in ("reproduced", "partial", "not reproduced")}
        summary_rows.append(
            f"<tr><td><a href='#{html.escape(d['method'])}'>{html.escape(d['method'])}</a></td>"
            f"<td>{counts['reproduced']}</td><td>{counts['partial']}</td>"
            f"<td>{counts['not reproduced']}</td><td>{d.get('seconds', 0):.0f}</td></tr>"
        )
    nav = "".join(f"<a href='#{html.escape(d['method'])}'>{html.escape(d['method'])}</a>"
                  for d in datas)
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>reprlab report</title>"
        f"<style>{_CSS}</style></head><body><header><h1>reprlab reproduction report</h1>"
        "</header>"
        f"<nav>{nav}</nav><main><section><h2>Summary</h2><table><tr><th>method</th>"
        "<th>reproduced</th><th>partial</th><th>not reproduced</th><th>seconds</th></tr>"
        f"{''.join(summary_rows)}</table></section>"
        f"{''.join(_section(out, d) for d in datas)}</main></body></html>"
    )
    path = out / "report.html"
    path.write_text(page)
    return path
