"""The static factor browser: pages, escaping, SVG; and in a real headless Chromium."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from reprlab.factors.browser import (
    ContextView,
    FactorView,
    curve_svg,
    factor_page_name,
    open_browser,
    render_tokens,
    word_factor_views,
    write_browser,
)

LAYERS = ["emb", "L1", "L2", "L3", "L4", "L5", "L6"]


def _views() -> list[FactorView]:
    words = ["bank", "river", "court", "tennis", "<script>alert(1)</script>", "party"]
    views = []
    for i, w in enumerate(words):
        ctx = [ContextView(tokens=["the", w, "was", "here", "##by", "."], score=1.0 - 0.1 * j,
                           highlight=1) for j in range(3)]
        curve = [float((k - i) % 7 == 0) + 0.1 for k in range(7)]
        attr = [ContextView(tokens=["the", w, "was", "here"], score=0.9, highlight=1,
                            weights=[0.1, 0.8, -0.3, 0.0])]
        views.append(FactorView(id=10 + i, label=f"{w} factor", kind=["word-level",
                                "sentence-level", "long-range"][i % 3], curve=curve,
                                curve_labels=LAYERS, groups=[("top contexts at L1", ctx)],
                                attributions=attr))
    return views


def test_render_tokens_highlight_pieces_and_escape():
    html = render_tokens(ContextView(tokens=["play", "##ing", "<b>", "."], score=1.0,
                                     highlight=0, weights=[1.0, 0.0, -0.5, 0.0]))
    assert "<mark class=hit>play</mark>" in html
    assert "ing</span>" in html and "&lt;b&gt;" in html and "<b>" not in html
    assert "rgba(46,160,67,1.00)" in html and "rgba(220,53,69,0.50)" in html


def test_curve_svg_is_valid_xml_with_peak():
    svg = curve_svg([0.1, 0.5, 0.2], ["emb", "L1", "L2"])
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    ns = "{http://www.w3.org/2000/svg}"
    pts = root.find(f"{ns}polyline").get("points").split()
    assert len(pts) == 3
    peak = root.find(f"{ns}circle")
    assert peak.get("cx") == pts[1].split(",")[0]
    with pytest.raises(ValueError):
        curve_svg([1.0], ["a", "b"])


def test_write_browser_files(tmp_path):
    index = write_browser(tmp_path, _views(), title="Test factors", meta={"factors": 6})
    text = index.read_text()
    assert index == tmp_path / "index.html"
    for i in range(10, 16):
        assert f"href='{factor_page_name(i)}'" in text
        assert (tmp_path / factor_page_name(i)).is_file()
    assert "<script>alert" not in text  # labels escaped; the only script is the filter
    page = (tmp_path / factor_page_name(11)).read_text()
    assert "<svg id='curve'" in page and page.count("<li class=context>") == 3
    assert "class=attribution" in page and "http" not in page.replace(
        "http://www.w3.org/2000/svg", "")  # nothing fetched from the network
    with pytest.raises(ValueError, match="empty"):
        write_browser(tmp_path, [])
    assert open_browser(tmp_path) == index.resolve()
    with pytest.raises(FileNotFoundError):
        open_browser(tmp_path / "nothing")


def test_word_factor_views():
    views = word_factor_views([[("apple", 0.9), ("pear", 0.5)], [], [("run", 0.4)]])
    assert [v.id for v in views] == [0, 2]
    assert views[0].groups[0][1][0].tokens == ["apple"] and views[0].label == "apple, pear"


def test_browser_in_headless_chromium(tmp_path, make_chromium):
    from selenium.webdriver.common.by import By

    index = write_browser(tmp_path, _views(), title="Test factors")
    driver = make_chromium()
    try:
        driver.get(index.resolve().as_uri())
        rows = driver.find_elements(By.CSS_SELECTOR, "#factor-list li")
        assert len(rows) == 6 and all(r.is_displayed() for r in rows)
        box = driver.find_element(By.ID, "search")
        box.send_keys("tennis")
        shown = [r for r in rows if r.is_displayed()]
        assert len(shown) == 1 and "tennis" in shown[0].text
        assert driver.find_element(By.ID, "count").text == "1 / 6 shown"
        box.clear()
        box.send_keys("sentence-level")
        assert sum(r.is_displayed() for r in rows) == 2
        box.clear()
        box.send_keys("no-such-factor")
        assert not any(r.is_displayed() for r in rows)
        box.clear()
        box.send_keys("#13")
        shown = [r for r in rows if r.is_displayed()]
        assert len(shown) == 1
        shown[0].find_element(By.TAG_NAME, "a").click()
        assert driver.current_url.endswith(factor_page_name(13))
        curve = driver.find_element(By.ID, "curve")
        assert curve.is_displayed() and curve.size["width"] > 100
        assert len(driver.find_elements(By.CSS_SELECTOR, "svg#curve polyline")) == 1
        contexts = driver.find_elements(By.CSS_SELECTOR, "li.context")
        assert len(contexts) == 3 and "tennis" in contexts[0].text
        assert driver.find_element(By.CSS_SELECTOR, "li.context mark.hit").text == "tennis"
        assert driver.find_elements(By.CSS_SELECTOR, "li.attribution")
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        driver.quit()
