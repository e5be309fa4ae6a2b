"""A static HTML factor browser: opens from disk, no server, no network.

``write_browser(out_dir, views)`` writes ``index.html`` (a searchable list of factors: typing
in the search box filters by label, kind, id or any shown token) and one page per factor under
``factor/`` with its layer-importance curve (inline SVG), its top contexts with the activating
token highlighted, and token attributions (green raises the factor, red lowers it). The page
template lives in :mod:`reprlab.factors._browser_template`. It knows nothing of transformers
or word vectors: :func:`reprlab.transformer_factors.views.factor_views` and
:func:`reprlab.word_factors.browser.build_word_browser` build the :class:`FactorView`
records it renders.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprlab.factors._browser_template import CSS, INDEX_JS, PAGE

__all__ = ["ContextView", "FactorView", "render_tokens", "curve_svg", "write_browser",
           "factor_page_name", "word_factor_views", "open_browser"]


@dataclass
class ContextView:
    """One example of a factor: tokens, the highlighted one, its activation, attributions.

    ``tokens`` are word pieces (``##x`` joins the previous piece) or plain words;
    ``highlight`` is the index of the activating token (None: none); ``weights`` (same
    length as ``tokens``) colours each token by its attribution.
    """

    tokens: list[str]
    score: float
    highlight: int | None = None
    weights: list[float] | None = None
    note: str = ""


@dataclass
class FactorView:
    """What the browser shows for one factor.

    ``curve`` is the layer-importance curve (one value per entry of ``curve_labels``);
    ``groups`` are titled lists of top contexts (e.g. one per layer); ``attributions`` are
    contexts with per-token ``weights``.
    """

    id: int
    label: str
    kind: str = ""
    curve: list[float] | None = None
    curve_labels: list[str] | None = None
    groups: list[tuple[str, list[ContextView]]] = field(default_factory=list)
    attributions: list[ContextView] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


def factor_page_name(factor_id: int) -> str:
    """File name of a factor's page, relative to the browser folder."""
    return f"factor/{factor_id:05d}.html"


def _piece(tok: str) -> tuple[str, bool]:
    """Display text of a token and whether it glues to the previous one (``##`` pieces)."""
    if tok.startswith("##"):
        return tok[2:], True
    if tok.startswith("\u2581"):  # sentencepiece word start
        return tok[1:], False
    return tok, tok in {".", ",", ";", ":", "!", "?", ")", "'s", "%"}


def render_tokens(view: ContextView) -> str:
    """HTML of a context: highlighted token in ``<mark>``, attributions as background."""
    w = view.weights
    scale = max((abs(x) for x in w), default=0.0) if w else 0.0
    parts = []
    for i, tok in enumerate(view.tokens):
        text, glue = _piece(tok)
        style = ""
        if w and scale > 0:
            a = min(1.0, abs(w[i]) / scale)
            rgb = "46,160,67" if w[i] > 0 else "220,53,69"
            style = f" style='background:rgba({rgb},{a:.2f})' title='{w[i]:+.3g}'"
        body = html.escape(text)
        if i == view.highlight:
            body = f"<mark class=hit>{body}</mark>"
        parts.append(("" if glue or i == 0 else " ") + f"<span class=tok{style}>{body}</span>")
    return "".join(parts)


def curve_svg(values: Sequence[float], labels: Sequence[str], *, width: int = 420,
              height: int = 180, title: str = "layer importance I(l)") -> str:
    """An inline SVG line plot of a layer-importance curve with its peak marked."""
    if len(values) != len(labels):
        raise ValueError(f"values and labels differ in length: {len(values)} vs {len(labels)}")
    n = len(values)
    left, right, top, bottom = 44, 12, 22, 34
    pw, ph = width - left - right, height - top - bottom
    vmax = max(max(values, default=0.0), 1e-12)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = left + (pw * i / (n - 1) if n > 1 else pw / 2)
        return x, top + ph * (1 - v / vmax)

    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, v in enumerate(values)))
    peak = max(range(n), key=lambda i: values[i]) if n else 0
    px, py = xy(peak, values[peak]) if n else (0, 0)
    ticks = "".join(
        f"<text x='{xy(i, 0)[0]:.1f}' y='{height - bottom + 14}' class='tick'>"
        f"{html.escape(str(lab))}</text>" for i, lab in enumerate(labels))
    # well-formed XML (every attribute quoted) so the SVG also stands alone
    return (
        f"<svg id='curve' class='curve' width='{width}' height='{height}' role='img' "
        f"aria-label='{html.escape(title)}' xmlns='http://www.w3.org/2000/svg'>"
        f"<text x='{left}' y='14' class='ttl'>{html.escape(title)}</text>"
        f"<line x1='{left}' y1='{top + ph}' x2='{left + pw}' y2='{top + ph}' class='axis' />"
        f"<line x1='{left}' y1='{top}' x2='{left}' y2='{top + ph}' class='axis' />"
        f"<text x='{left - 4}' y='{top + 4}' class='ytick'>{vmax:.3g}</text>"
        f"<text x='{left - 4}' y='{top + ph}' class='ytick'>0</text>"
        f"<polyline points='{pts}' class='line' />"
        f"<circle cx='{px:.1f}' cy='{py:.1f}' r='4' class='peak' />"
        f"{ticks}<text x='{left + pw / 2}' y='{height - 4}' class='xlab'>layer</text></svg>")


def _factor_page(view: FactorView, n_total: int, ids: list[int], title: str) -> str:
    pos = ids.index(view.id)
    nav = ["<a href='../index.html'>all factors</a>"]
    if pos > 0:
        nav.append(f"<a href='../{factor_page_name(ids[pos - 1])}'>&larr; prev</a>")
    if pos + 1 < len(ids):
        nav.append(f"<a href='../{factor_page_name(ids[pos + 1])}'>next &rarr;</a>")
    body = [f"<nav>{' · '.join(nav)}</nav><main>",
            f"<h2>Factor {view.id} <span class=kind>{html.escape(view.kind)}</span></h2>",
            f"<p class=label>{html.escape(view.label)}</p>"]
    if view.info:
        body.append("<p class=small>" + " · ".join(
            f"{html.escape(str(k))}: {html.escape(str(v))}" for k, v in view.info.items())
            + "</p>")
    if view.curve is not None:
        labels = view.curve_labels or [str(i) for i in range(len(view.curve))]
        body.append(f"<section>{curve_svg(view.curve, labels)}</section>")
    for gtitle, items in view.groups:
        rows = "".join(
            f"<li class=context><span class=score>{c.score:.3f}</span> {render_tokens(c)}"
            + (f" <span class=small>{html.escape(c.note)}</span>" if c.note else "") + "</li>"
            for c in items)
        body.append(f"<section class=group><h3>{html.escape(gtitle)}</h3>"
                    f"<ol class=contexts>{rows or '<li>(no activation)</li>'}</ol></section>")
    if view.attributions:
        rows = "".join(
            f"<li class=attribution><span class=score>{c.score:.3f}</span> {render_tokens(c)}"
            + (f" <span class=small>{html.escape(c.note)}</span>" if c.note else "") + "</li>"
            for c in view.attributions)
        body.append("<section><h3>Token attribution (LIME occlusion; green raises the "
                    f"factor, red lowers it)</h3><ol class=attributions>{rows}</ol></section>")
    body.append("</main>")
    return PAGE.format(title=html.escape(f"{title} · factor {view.id}"), css=CSS,
                       body="".join(body), script="")


def write_browser(out_dir: str | Path, views: Sequence[FactorView], *,
                  title: str = "Factor browser", meta: dict[str, Any] | None = None) -> Path:
    """Write ``index.html`` and ``factor/NNNNN.html`` pages; return the index path.

    Everything (CSS, JavaScript, SVG) is inline, so the folder opens from disk offline.
    """
    if not views:
        raise ValueError("views is empty: nothing to browse")
    out = Path(out_dir)
    (out / "factor").mkdir(parents=True, exist_ok=True)
    ids = [v.id for v in views]
    if len(set(ids)) != len(ids):
        raise ValueError("factor ids in views must be unique")
    for view in views:
        (out / factor_page_name(view.id)).write_text(
            _factor_page(view, len(views), ids, title), encoding="utf-8")
    kinds: dict[str, int] = {}
    for v in views:
        kinds[v.kind or "-"] = kinds.get(v.kind or "-", 0) + 1
    items = []
    for v in views:
        words = " ".join(t for _, cs in v.groups[:1] for c in cs[:5]
                         for t in ([c.tokens[c.highlight]] if c.highlight is not None
                                   else c.tokens[:3]))
        search = f"#{v.id} {v.label} {v.kind} {words}".lower()
        items.append(
            f"<li class=factor data-search='{html.escape(search, quote=True)}'>"
            f"<a href='{factor_page_name(v.id)}'>#{v.id}</a> "
            f"<span class=kind>{html.escape(v.kind)}</span> {html.escape(v.label)}</li>")
    meta_html = ""
    if meta:
        meta_html = "<p class=small>" + " · ".join(
            f"{html.escape(str(k))}: {html.escape(json.dumps(v) if not isinstance(v, str) else v)}"
            for k, v in meta.items()) + "</p>"
    kind_html = " · ".join(f"{html.escape(k)}: {n}" for k, n in sorted(kinds.items()))
    body = (f"<main><h2>{html.escape(title)}</h2>{meta_html}"
            f"<p class=small>{len(views)} factors — {kind_html}</p>"
            "<input id=search type=search placeholder='search factors: word, kind, #id' "
            "autofocus> <span id=count></span>"
            f"<ul id=factor-list>{''.join(items)}</ul></main>")
    index = out / "index.html"
    index.write_text(PAGE.format(title=html.escape(title), css=CSS, body=body,
                                 script=f"<script>{INDEX_JS}</script>"), encoding="utf-8")
    return index


def word_factor_views(top_words: Sequence[Sequence[tuple[str, float]]], *,
                      factor_ids: Sequence[int] | None = None, kind: str = "word factor"
                      ) -> list[FactorView]:
    """Views of word factors: each factor's top words are its "contexts" (one word each,
    highlighted, with its activation as score). Factors with no word are left out."""
    ids = list(range(len(top_words))) if factor_ids is None else list(factor_ids)
    if len(ids) != len(top_words):
        raise ValueError(f"factor_ids has {len(ids)} entries for {len(top_words)} factors")
    views = []
    for fid, words in zip(ids, top_words):
        if not words:
            continue
        items = [ContextView(tokens=[w], score=float(s), highlight=0) for w, s in words]
        views.append(FactorView(id=int(fid), label=", ".join(w for w, _ in words[:6]),
                                kind=kind, groups=[("top words", items)]))
    return views


def open_browser(path: str | Path, *, launch: bool = False) -> Path:
    """The browser index in ``path`` (itself, ``index.html`` in it, or a reproduce folder's
    ``factors/browser/``); with ``launch`` open it in the default web browser."""
    p = Path(path)
    candidates = [p] if p.suffix == ".html" else [p / "index.html",
                                                  p / "factors" / "browser" / "index.html"]
    for c in candidates:
        if c.is_file():
            if launch:
                import webbrowser

                webbrowser.open(c.resolve().as_uri())
            return c.resolve()
    raise FileNotFoundError(f"no factor browser in {p}: expected {candidates[0]}; write one "
                            "with `reprlab factors fit`, `factors words` or `reproduce factors`")
