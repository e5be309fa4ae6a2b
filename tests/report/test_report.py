import json

import pytest

from reprlab.claims import ClaimSpec, Criterion, Measured
from reprlab.report import Claim, MethodReport, build_html, load_method_json, write_method_json
from reprlab.report.docs import BEGIN, END, update_docs
from reprlab.report.plots import image_grid, plt
from reprlab.report.text import fmt_number, format_measured, format_value

ACC = ClaimSpec("accuracy", paper_value=99.0, paper_dataset="MNIST", dataset="MNIST 5k",
                criteria=(Criterion("acc", "test accuracy", unit="%", reproduced=98.0,
                                    partial=95.0),), baseline="a linear head",
                control="shuffled labels", min_seeds=3)
TWO = ClaimSpec("two parts", paper_value="both", paper_dataset="MNIST", dataset="MNIST",
                criteria=(Criterion("gap", "gap", unit="points", reproduced=0.0),
                          Criterion("norm", "mean ‖z‖", reproduced=0.9,
                                    higher_is_better=False)))
CIFAR = ClaimSpec("cifar", 95.0, "CIFAR-10", "—", not_run="CIFAR-10 is not reachable offline")


def _report(name="toy"):
    rep = MethodReport(method=name, config={"epochs": 1}, config_name="quick")
    rep.add(ACC.judge(Measured.from_seeds([97.5, 98.0, 97.0],
                                          detail={"MNIST": 97.5, "Fashion": {"a": 1.0}})))
    rep.add(TWO.judge({"gap": 0.5, "norm": Measured(0.7)}))
    rep.add(CIFAR.skip())
    rep.results["per_epoch"] = [1, 2]
    rep.summary = f"{name}: on par on MNIST"
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    rep.add_figure("a line", fig, "caption")
    rep.add_figure("a grid", image_grid(torch_rand(4)), "grid")
    rep.seconds = 1.5
    return rep


def torch_rand(n):
    import torch

    return torch.rand(n, 1, 5, 5, generator=torch.Generator().manual_seed(0))


def test_method_json_follows_the_contract(tmp_path):
    path = write_method_json(_report(), tmp_path)
    data = json.loads(path.read_text())
    assert {"method", "claims", "config", "results", "seconds", "summary"} <= set(data)
    claim = data["claims"][0]
    assert claim["paper"] == {"value": 99.0, "dataset": "MNIST"}
    assert claim["measured"]["value"] == pytest.approx(97.5)
    assert claim["measured"]["spread"] == pytest.approx(0.5) and claim["measured"]["seeds"] == 3
    assert claim["criterion"] == {"reproduced": "test accuracy ≥ 98 %",
                                  "partial": "test accuracy ≥ 95 %"}
    assert claim["verdict"] == "partial"
    assert data["claims"][2]["verdict"] == "not run"
    assert data["results"] == {"per_epoch": [1, 2]} and data["config"] == {"epochs": 1}
    assert (tmp_path / data["figures"][0]["file"]).read_bytes()[:4] == b"\x89PNG"
    assert load_method_json(path)["method"] == "toy"


def test_bad_verdict_and_bad_json_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="verdict"):
        Claim("x", 1, "d", 1, "d", "maybe")
    (tmp_path / "bad.json").write_text(json.dumps({"method": "bad", "claims": []}))
    with pytest.raises(ValueError, match="missing keys"):
        load_method_json(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="bad.json"):
        build_html(tmp_path)  # never silently dropped
    (tmp_path / "bad.json").write_text('{"method": "tr')
    with pytest.raises(ValueError, match="bad.json: not a readable method report"):
        build_html(tmp_path)


def test_report_html_is_readable_and_self_contained(tmp_path):
    write_method_json(_report("alpha"), tmp_path)
    write_method_json(_report("beta"), tmp_path)
    page = build_html(tmp_path).read_text()
    assert "alpha: on par on MNIST" in page
    assert page.count("data:image/png;base64,") == 4
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "97.5 ± 0.5 %" in page and "mean ± sd, 3 seeds" in page  # formatted, not JSON
    assert '{"' not in page.split("<details>")[0]  # no JSON dump before the config details
    assert "2 not run" in page and "4</b> claims judged" in page
    assert "shuffled labels" in page and "test accuracy ≥ 98 %" in page


def test_missing_figure_names_the_file(tmp_path):
    write_method_json(_report("alpha"), tmp_path)
    next((tmp_path / "alpha").glob("*.png")).unlink()
    with pytest.raises(ValueError, match="alpha.json: figure .* is missing"):
        build_html(tmp_path)


def test_report_html_needs_results(tmp_path):
    with pytest.raises(FileNotFoundError):
        build_html(tmp_path)


def test_values_are_formatted_with_units_and_spreads():
    assert fmt_number(0.97551) == "0.9755" and fmt_number(1234567.0) == "1.235e+06"
    assert fmt_number(None) == "—" and fmt_number(float("nan")) == "NaN"
    assert format_value(97.5, 0.25, "%") == "97.5 ± 0.25 %"
    assert format_value({"a": 1.0, "b": 2.0}, {"a": 0.1}, {"b": "s"}) == "a: 1 ± 0.1, b: 2 s"
    assert format_measured({"value": None, "seeds": 0}) == "—"


def test_report_table_cells_can_link_to_files_next_to_the_report(tmp_path):
    rep = _report("linker")
    rep.tables["browser"] = [{"open": {"href": "linker/index.html", "text": "the browser"}}]
    write_method_json(rep, tmp_path)
    page = build_html(tmp_path).read_text()
    assert "<a href='linker/index.html'>the browser</a>" in page


def test_docs_claims_table_is_regenerated(tmp_path):
    out, docs = tmp_path / "out", tmp_path / "docs"
    docs.mkdir()
    write_method_json(_report("alpha"), out)
    (docs / "alpha.md").write_text(f"# alpha\n\nintro\n\n{BEGIN}\nold table\n{END}\n\nafter\n")
    update_docs(out, docs)
    text = (docs / "alpha.md").read_text()
    assert "old table" not in text and "intro" in text and "after" in text
    assert "| accuracy | 99 (MNIST) | 97.5 ± 0.5 % (mean ± sd, 3 seeds) (MNIST 5k)" in text
    assert "`reprlab reproduce alpha --quick`" in text
    update_docs(out, docs)
    assert (docs / "alpha.md").read_text() == text  # idempotent


def test_report_in_headless_chromium(tmp_path, make_chromium):
    """Summary present, every image loads, no console errors, no network request."""
    write_method_json(_report("alpha"), tmp_path)
    write_method_json(_report("beta"), tmp_path)
    page = build_html(tmp_path)
    driver = make_chromium()
    try:
        driver.get(page.resolve().as_uri())
        assert "claims judged" in driver.find_element("id", "counts").text
        rows = driver.find_elements("css selector", "#summary tr")
        assert len(rows) == 3
        images = driver.find_elements("tag name", "img")
        assert len(images) == 4
        assert all(driver.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth > 0", img)
            for img in images)
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        requests = []
        for entry in driver.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            if msg["method"] == "Network.requestWillBeSent":
                url = msg["params"]["request"]["url"]
                if not url.startswith(("file:", "data:")):
                    requests.append(url)
        assert not requests, requests
    finally:
        driver.quit()
