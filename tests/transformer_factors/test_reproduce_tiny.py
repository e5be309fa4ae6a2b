"""The `transformer_factors` tiny config end to end, called directly (registry discovery may
fail while other methods are converted), checked against the registered claims."""

from __future__ import annotations

import json

from reprlab.registry import Method
from reprlab.report import write_method_json
from reprlab.reproduce import ReproduceContext, check_claims
from reprlab.transformer_factors import TransformerFactors
from reprlab.transformer_factors import reproduce as R


def test_tiny_run_emits_registered_claims(tmp_path):
    ctx = ReproduceContext(method="transformer_factors", config_name="tiny", config=R.TINY,
                           out=tmp_path)
    report = R.run(ctx, R.TINY)
    method = Method(name="transformer_factors", run=R.run, summary="", paper="",
                    claims=R.CLAIMS, configs={"tiny": R.TINY})
    check_claims(method, report)
    for c in report.claims:
        assert c.verdict in ("reproduced", "partial", "not reproduced")
        assert c.seeds >= 3 and c.baseline and c.control
    assert (tmp_path / "factors" / "browser" / "index.html").is_file()
    tf = TransformerFactors.load(tmp_path / "transformer_factors" / "model")
    assert tf.n_factors == R.TINY.factors.n_factors
    rows = report.tables["sae_vs_sparse_coding"]
    assert rows and all(r["heldout_vectors"] > 0 for r in rows)
    assert rows[1]["saelens_roundtrip_max_abs_diff"] == 0.0
    data = json.loads(write_method_json(report, tmp_path).read_text())
    assert [c["name"] for c in data["claims"]] == [c.name for c in R.CLAIMS]
    # a rerun into the same folder resumes the cached dictionaries (same settings)
    assert list(ctx.work_dir.glob("dictionary-seed*.pt"))
