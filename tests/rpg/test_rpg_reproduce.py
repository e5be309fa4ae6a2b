import json

from reprlab.report import load_method_json, write_method_json
from reprlab.reproduce import ReproduceContext
from reprlab.rpg.reproduce import RPGConfig, matched_plain_widths, reproduce

TINY = RPGConfig(n_train=200, n_test=100, epochs=1, batch_size=50, widths=(4, 8),
                 blocks=(1, 1), stem_stride=2, fractions=(0.05, 1.0), ablation_fraction=0.05)


def test_matched_plain_widths_is_closest():
    from reprlab.rpg import count_params, resnet

    w = matched_plain_widths(400, TINY)
    n = count_params(resnet(w, TINY.blocks, stem_stride=2))
    for base in range(1, 5):
        other = count_params(resnet((base, 2 * base), TINY.blocks, stem_stride=2))
        assert abs(n - 400) <= abs(other - 400)
    assert matched_plain_widths(10**6, TINY) == (4, 8)


def test_reproduce_smoke(tmp_path):
    ctx = ReproduceContext(method="rpg", quick=True, out=tmp_path, progress=False)
    report = reproduce(ctx, config=TINY)
    names = [c.name for c in report.claims]
    assert len(names) == 6 and "ImageNet" in report.claims[0].paper_dataset
    assert report.claims[0].verdict == "not reproduced"
    rows = report.tables["bank_sweep"]
    assert [r["fraction"] for r in rows] == [0.05, 1.0]
    assert all(0 <= r["rpg_acc"] <= 1 for r in rows)
    assert rows[0]["rpg_params"] < rows[1]["rpg_params"]
    abl = report.tables["sign_ablation"]
    assert [a["seed"] for a in abl] == [0, 1]
    assert all({"with_signs", "without_signs"} <= set(a) for a in abl)
    path = write_method_json(report, tmp_path)
    data = load_method_json(path)
    assert json.dumps(data) and data["figures"]


def test_full_path_checkpoints_and_resumes(tmp_path):
    from dataclasses import replace

    from reprlab.data import load_fashion_mnist
    from reprlab.rpg import resnet
    from reprlab.rpg.reproduce import train_eval

    cfg = replace(TINY, checkpoint=True)
    data = load_fashion_mnist("test").subset(100, seed=0)
    first = train_eval(resnet((4, 8), (1, 1)), data, data, cfg, seed=0, progress=False,
                       desc="run", work_dir=tmp_path)
    ckpts = list(tmp_path.glob("run-*/last.pt"))
    assert len(ckpts) == 1
    again = train_eval(resnet((4, 8), (1, 1)), data, data, cfg, seed=0, progress=False,
                       desc="run", work_dir=tmp_path)  # resumes: no epoch left to train
    assert again["acc"] == first["acc"]
