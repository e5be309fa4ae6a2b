"""Transformer-factor extraction throughput (tokens/s, all layers) beside the bare encoder.

Prints, for MiniLM-L6 on gensim's offline text: the encoder forward alone (all hidden states
requested), and full factor extraction (forward + normalisation + non-negative FISTA codes of
every layer's states against a fitted dictionary + top-k bookkeeping). Run:

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/factors_transformer_throughput.py
"""

from __future__ import annotations

import argparse
import time

import torch

from reprlab.factors import transformer as T


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--contexts", type=int, default=200)
    ap.add_argument("--factors", type=int, default=300)
    ap.add_argument("--encode-iter", type=int, default=60)
    args = ap.parse_args()
    docs = T.gensim_documents(("lee",))
    contexts = T.make_contexts(docs, max_contexts=args.contexts, seed=0)
    tok, model = T.load_encoder()
    ctx = T.tokenize_contexts(tok, contexts)
    n_tokens = sum(len(i) for i in ctx.ids)
    n_layers = model.config.num_hidden_layers + 1

    t = time.perf_counter()
    for _ in T.iter_hidden_states(model, tok, ctx, batch_size=32):
        pass
    t_fwd = time.perf_counter() - t

    cfg = T.TransformerFactorsConfig(n_factors=args.factors, lam=0.1, max_iter=40,
                                     encode_max_iter=args.encode_iter, learn_fraction=0.3,
                                     lr=0.3, bias_correction=True, stats_contexts=100)
    tf = T.fit_transformer_factors(contexts[:60], config=cfg, encoder=(tok, model))
    top = T.TopActivations(n_layers, args.factors, 20)
    t = time.perf_counter()
    for batch in T.iter_hidden_states(model, tok, ctx, batch_size=32):
        x = T.normalize_states(batch.states, mean=tf.mean, mode="center_unit")
        for li in range(n_layers):
            codes = tf.engine.encode(x[li], max_iter=args.encode_iter).float()
            top.update(li, codes, batch.context, batch.position)
    t_fx = time.perf_counter() - t
    print(f"threads={torch.get_num_threads()} tokens={n_tokens} layers={n_layers} "
          f"factors={args.factors} FISTA iters<={args.encode_iter}")
    print(f"bare encoder forward (all hidden states): {n_tokens / t_fwd:9.0f} tokens/s")
    print(f"factor extraction (all {n_layers} layers):     {n_tokens / t_fx:9.0f} tokens/s "
          f"({n_tokens * n_layers / t_fx:.0f} hidden states/s)")


if __name__ == "__main__":
    main()
