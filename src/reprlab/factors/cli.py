"""``reprlab factors ...``: fit factors on your own model/text or word vectors, browse them.

* ``reprlab factors fit --model NAME_OR_PATH --corpus FILE.txt --out DIR`` — transformer
  factors of any Hugging Face encoder on a text file (one document per line).
* ``reprlab factors words --vectors FILE --out DIR`` — word factors of a word-vector table
  (GloVe/word2vec text or binary), shown in the same browser (words as "contexts").
* ``reprlab factors browse DIR`` — print (and with ``--open`` open) the browser's index.
* ``reprlab factors encode DIR --text "…" [--json]`` — a saved transformer-factor model
  (``factors fit``'s folder, or any ``TransformerFactors.save`` folder) on new text: the
  text's top factors (with ``--attributions``, their LIME token weights); ``--json`` prints
  per-token codes per layer as JSON.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register_subcommand"]


def _cmd_fit(args: argparse.Namespace) -> int:
    from reprlab.transformer_factors import TransformerFactorsConfig
    from reprlab.transformer_factors.views import build_browser

    layers = None if args.layers is None else tuple(int(x) for x in args.layers.split(","))
    cfg = TransformerFactorsConfig(n_factors=args.factors, lam=args.lam, epochs=args.epochs,
                                   layers=layers, seed=args.seed,
                                   add_special_tokens=args.special_tokens)
    cfg.check()
    index = build_browser(args.corpus, args.out, model=args.model, config=cfg,
                          max_contexts=args.max_contexts, seed=args.seed,
                          progress=not args.quiet)
    print(index)
    return 0


def _cmd_words(args: argparse.Namespace) -> int:
    from reprlab.word_factors.browser import build_word_browser

    index = build_word_browser(args.vectors, args.out, n_factors=args.factors, lam=args.lam,
                               max_words=args.max_words, binary=args.binary,
                               n_steps=args.steps, seed=args.seed)
    print(index)
    return 0


def _cmd_browse(args: argparse.Namespace) -> int:
    from reprlab.factors.browser import open_browser

    print(open_browser(args.dir, launch=args.open))
    return 0


def _cmd_encode(args: argparse.Namespace) -> int:
    import json

    from reprlab.transformer_factors import TransformerFactors
    from reprlab.transformer_factors.model import (
        encode_text,
        encoder_for,
        explain_text,
        top_factors,
    )

    tf = TransformerFactors.load(args.dir)
    enc = encoder_for(tf)
    if args.attributions:
        rows = explain_text(tf, enc, args.text, k=args.top, n_samples=args.lime_samples)
    else:
        rows = top_factors(tf, enc, args.text, k=args.top)
    if args.json:
        out = encode_text(tf, enc, args.text).to_json(k=args.top)
        out["top_factors"] = rows
        print(json.dumps(out))
        return 0
    print(f"{len(tf.layers)} layers, {tf.n_factors} factors ({tf.model_name})")
    for r in rows:
        line = (f"#{r['factor']:<5} {r['activation']:.3f} at {r['layer']:>4} on "
                f"{r['token']!r:<14} [{r['kind']}] {r['label']}")
        if "weights" in r:
            pairs = sorted(zip(r["tokens"], r["weights"]), key=lambda p: -p[1])[:4]
            line += "  driven by " + ", ".join(f"{t} {w:+.3f}" for t, w in pairs)
        print(line)
    return 0


def register_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Add ``factors`` with its ``fit``, ``words`` and ``browse`` commands."""
    p = subparsers.add_parser("factors", help="sparse factors of transformers / word vectors")
    sub = p.add_subparsers(dest="factors_command", metavar="COMMAND")

    f = sub.add_parser("fit", help="transformer factors of a model on a text file")
    f.add_argument("--model", default=None,
                   help="AutoModel name or path, a .gguf file or 'smollm2' (default: "
                        "bundled all-MiniLM-L6-v2)")
    f.add_argument("--corpus", required=True,
                   help="text file, one document per line ('gensim': offline Wikipedia+Lee)")
    f.add_argument("--out", required=True, help="folder for the browser and dictionary")
    f.add_argument("--factors", type=int, default=1000, help="dictionary size (default 1000)")
    f.add_argument("--lam", type=float, default=0.1, help="λ on unit-norm states (0.1)")
    f.add_argument("--epochs", type=int, default=1, help="passes over the contexts (1)")
    f.add_argument("--layers", default=None, help="comma list of hidden_states (default all)")
    f.add_argument("--max-contexts", type=int, default=2000, help="contexts used (2000)")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--special-tokens", action="store_true",
                   help="feed [CLS]/[SEP]/BOS to the model (official code: no)")
    f.add_argument("--quiet", action="store_true", help="no progress bars")
    f.set_defaults(func=_cmd_fit)

    w = sub.add_parser("words", help="word factors of a word-vector file")
    w.add_argument("--vectors", required=True, help="GloVe/word2vec text or binary file")
    w.add_argument("--out", required=True, help="folder for the browser")
    w.add_argument("--binary", action="store_true", help="word2vec binary format")
    w.add_argument("--factors", type=int, default=1000, help="dictionary size (default 1000)")
    w.add_argument("--lam", type=float, default=0.5, help="λ on unit-norm vectors (0.5)")
    w.add_argument("--max-words", type=int, default=None, help="first N words of the file")
    w.add_argument("--steps", type=int, default=2000, help="dictionary steps (2000)")
    w.add_argument("--seed", type=int, default=0)
    w.set_defaults(func=_cmd_words)

    b = sub.add_parser("browse", help="the factor browser in DIR (opens from disk)")
    b.add_argument("dir", type=Path, help="a folder written by `factors fit/words` or "
                   "`reproduce factors` (its factors/browser)")
    b.add_argument("--open", action="store_true", help="open it in the default web browser")
    b.set_defaults(func=_cmd_browse)

    e = sub.add_parser("encode", help="a saved factor model on new text")
    e.add_argument("dir", type=Path, help="folder with factors.json + factors.safetensors")
    e.add_argument("--text", required=True, help="the text to encode")
    e.add_argument("--top", type=int, default=5, help="factors shown (5)")
    e.add_argument("--attributions", action="store_true", help="LIME token weights too")
    e.add_argument("--lime-samples", type=int, default=128, help="LIME masks (128)")
    e.add_argument("--json", action="store_true",
                   help="print per-token codes per layer and the top factors as JSON")
    e.set_defaults(func=_cmd_encode)

    def _help(args: argparse.Namespace) -> int:
        p.print_help()
        return 1

    p.set_defaults(func=_help)
