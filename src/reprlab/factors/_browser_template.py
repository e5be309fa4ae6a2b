"""The factor browser's page template, CSS and JavaScript (kept in Python so it ships with
the package; ``pyproject.toml`` packages only ``.py``/``.json``/report assets)."""

from __future__ import annotations

__all__ = ["PAGE", "CSS", "INDEX_JS"]

PAGE = """<!DOCTYPE html>
<html lang=en><head><meta charset=utf-8><title>{title}</title>
<link rel=icon href="data:,"><style>{css}</style></head>
<body><header><h1>{title}</h1></header>{body}{script}</body></html>
"""

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1d232a;
background:#fafbfc}header{background:#22313f;color:#fff;padding:12px 24px}
header h1{margin:0;font-size:19px}nav{padding:8px 24px;background:#eef1f4;font-size:14px}
nav a{color:#22313f}main{padding:6px 24px 40px;max-width:1100px}
section{background:#fff;border:1px solid #dde2e7;border-radius:8px;padding:10px 16px;
margin:14px 0}h3{margin:4px 0 8px;font-size:15px}#search{font-size:16px;padding:6px 10px;
width:420px;max-width:90%}#factor-list{list-style:none;padding:0;columns:2;font-size:14px}
#factor-list li{padding:2px 0;break-inside:avoid}.kind{display:inline-block;font-size:11px;
background:#e3e8ee;border-radius:4px;padding:0 5px;color:#334}.label{font-size:15px}
ol.contexts li,ol.attributions li{margin:4px 0;font-size:14px;line-height:1.55}
.score{font-family:monospace;font-size:12px;color:#667;margin-right:4px}
mark.hit{background:#1f6feb;color:#fff;border-radius:3px;padding:0 2px}
.small{font-size:12px;color:#556}.tok{border-radius:2px}
svg.curve .axis{stroke:#889;stroke-width:1}svg.curve .line{fill:none;stroke:#1f6feb;
stroke-width:2}svg.curve .peak{fill:#d1242f}svg.curve text{font-size:11px;fill:#445}
svg.curve .tick,svg.curve .xlab{text-anchor:middle}svg.curve .ytick{text-anchor:end}
"""

INDEX_JS = """
(function () {
  var box = document.getElementById('search');
  var items = Array.prototype.slice.call(document.querySelectorAll('#factor-list li'));
  var count = document.getElementById('count');
  function apply() {
    var terms = box.value.toLowerCase().split(/\\s+/).filter(function (t) { return t; });
    var shown = 0;
    items.forEach(function (li) {
      var text = li.getAttribute('data-search');
      var ok = terms.every(function (t) { return text.indexOf(t) >= 0; });
      li.style.display = ok ? '' : 'none';
      if (ok) { shown += 1; }
    });
    count.textContent = shown + ' / ' + items.length + ' shown';
  }
  box.addEventListener('input', apply);
  apply();
})();
"""
