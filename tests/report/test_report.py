import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from reprlab.report import (  # noqa: E402
    Claim,
    MethodReport,
    build_html,
    load_method_json,
    verdict_from_ratio,
    write_method_json,
)


def _report(name="toy"):
    rep = MethodReport(method=name, config={"epochs": 1})
    rep.claims.append(Claim("accuracy", 99.0, "MNIST", 98.5, "MNIST 5k", "partial", "note"))
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    rep.add_figure("a line", fig, "caption")
    rep.seconds = 1.5
    return rep


def test_method_json_follows_the_contract(tmp_path):
    path = write_method_json(_report(), tmp_path)
    data = json.loads(path.read_text())
    assert {"method", "claims", "config", "seconds"} <= set(data)
    claim = data["claims"][0]
    assert claim == {"name": "accuracy", "paper": {"value": 99.0, "dataset": "MNIST"},
                     "measured": {"value": 98.5, "dataset": "MNIST 5k"},
                     "verdict": "partial", "note": "note"}
    assert (tmp_path / data["figures"][0]["file"]).read_bytes()[:4] == b"\x89PNG"
    assert load_method_json(path)["method"] == "toy"


def test_bad_verdict_and_bad_json_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="verdict"):
        Claim("x", 1, "d", 1, "d", "maybe")
    (tmp_path / "bad.json").write_text(json.dumps({"method": "bad", "claims": []}))
    with pytest.raises(ValueError, match="missing keys"):
        load_method_json(tmp_path / "bad.json")


def test_report_html_is_self_contained(tmp_path):
    write_method_json(_report("alpha"), tmp_path)
    write_method_json(_report("beta"), tmp_path)
    page = build_html(tmp_path).read_text()
    assert "alpha" in page and "beta" in page
    assert page.count("data:image/png;base64,") == 2
    assert "http://" not in page and "https://" not in page and "<script src" not in page


def test_report_html_needs_results(tmp_path):
    with pytest.raises(FileNotFoundError):
        build_html(tmp_path)


def test_verdict_from_ratio():
    assert verdict_from_ratio(99.0, 99.5) == "reproduced"
    assert verdict_from_ratio(96.0, 99.5) == "partial"
    assert verdict_from_ratio(50.0, 99.5) == "not reproduced"
    assert verdict_from_ratio(1.0, 1.2, higher_is_better=False) == "reproduced"
    assert verdict_from_ratio(float("nan"), 1.0) == "not reproduced"


def test_report_table_cells_can_link_to_files_next_to_the_report(tmp_path):
    rep = _report("linker")
    rep.tables["browser"] = [{"open": {"href": "linker/index.html", "text": "the browser"}}]
    write_method_json(rep, tmp_path)
    page = build_html(tmp_path).read_text()
    assert "<a href='linker/index.html'>the browser</a>" in page
