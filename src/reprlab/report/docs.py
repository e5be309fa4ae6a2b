"""Each method page's claims table, regenerated from its ``<method>.json``.

``docs/<method>.md`` carries the table between ``<!-- claims:begin -->`` and
``<!-- claims:end -->``; :func:`update_docs` rewrites that block (or appends one) so the docs
never drift from what a run measured. CLI: ``reprlab report DIR --docs docs``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reprlab.checkpoint import atomic_write_text
from reprlab.report.html import load_reports
from reprlab.report.text import format_measured, format_value

__all__ = ["claims_markdown", "update_docs", "BEGIN", "END"]

BEGIN = "<!-- claims:begin -->"
END = "<!-- claims:end -->"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def claims_markdown(data: dict[str, Any]) -> str:
    """The claims of one method report as a Markdown table with the command that made it."""
    config = data.get("config_name") or "?"
    flag = "--quick" if config == "quick" else ("" if config == "full" else f"--config {config}")
    lines = [f"Measured by `reprlab reproduce {data['method']} {flag}`".replace("  ", " ")
             .replace(" `", "`") + f" (seed {data.get('seed', 0)}, "
             f"{data.get('seconds', 0):.0f} s on the machine that ran it).", "",
             "| claim | paper | ours | criterion (reproduced / partial) | verdict |",
             "|---|---|---|---|---|"]
    for c in data["claims"]:
        crit = c.get("criterion") or {}
        lines.append("| " + " | ".join(_cell(x) for x in (
            c["name"],
            f"{format_value(c['paper']['value'])} ({c['paper']['dataset']})",
            f"{format_measured(c['measured'])} ({c['measured']['dataset']})",
            f"{crit.get('reproduced', '—')} / {crit.get('partial', '—')}",
            f"**{c['verdict']}**")) + " |")
    return "\n".join(lines)


def update_docs(out_dir: str | Path, docs_dir: str | Path) -> list[Path]:
    """Rewrite the claims block of ``docs_dir/<method>.md`` for every report in ``out_dir``."""
    docs = Path(docs_dir)
    if not docs.is_dir():
        raise FileNotFoundError(f"docs folder {docs} does not exist")
    written = []
    for _, data in load_reports(out_dir):
        page = docs / f"{data['method']}.md"
        block = f"{BEGIN}\n{claims_markdown(data)}\n{END}"
        text = page.read_text() if page.exists() else f"# {data['method']}\n"
        if BEGIN in text and END in text and text.index(BEGIN) < text.index(END):
            head, rest = text.split(BEGIN, 1)
            tail = rest.split(END, 1)[1]
            text = head + block + tail
        else:
            text = text.rstrip() + "\n\n## Claims\n\n" + block + "\n"
        atomic_write_text(page, text)
        written.append(page)
    return written
