"""Dictionary learning to a given objective: reprlab vs sklearn ``MiniBatchDictionaryLearning``.

Data: unit-normalised MiniLM input-embedding vectors of the most frequent whole words (real
384-d data). scikit-learn learns ``--atoms`` atoms with ``positive_code=True`` (coordinate
descent codes, the same λ); its final dictionary's objective ½‖x − aΦ‖² + λ‖a‖₁ is measured on
held-out words with the same FISTA encoder for both. reprlab then learns from scratch and
stops as soon as its held-out objective reaches sklearn's; the printed ratio is sklearn's
time over ours.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/sparse_dictionary_vs_sklearn.py
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch

from reprlab.sparse import functional as F
from reprlab.word_factors.word_vectors import log_frequency_weights, minilm_word_table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--words", type=int, default=6000)
    p.add_argument("--atoms", type=int, default=128)
    p.add_argument("--lam", type=float, default=0.05)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--sk-epochs", type=int, default=2)
    args = p.parse_args()
    from sklearn.decomposition import MiniBatchDictionaryLearning
    from sklearn.exceptions import ConvergenceWarning

    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    words, vecs = minilm_word_table()
    w = log_frequency_weights(words)
    order = torch.argsort(w, descending=True)[: args.words + 2000]
    x = F.normalize_atoms(vecs[order])
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(x.shape[0], generator=g)
    train, test = x[perm[: args.words]], x[perm[args.words:]]

    def held_out(phi: torch.Tensor) -> float:
        codes = F.sparse_encode(test, phi.float(), lam=args.lam, tol=1e-4, max_iter=1000)
        return F.objective(test, phi.float(), codes, lam=args.lam)

    t0 = time.perf_counter()
    mbdl = MiniBatchDictionaryLearning(n_components=args.atoms, alpha=args.lam,
                                       batch_size=args.batch, max_iter=args.sk_epochs,
                                       positive_code=True, fit_algorithm="cd",
                                       transform_algorithm="lasso_cd", random_state=0,
                                       tol=0.0, max_no_improvement=None)
    mbdl.fit(train.numpy())
    t_sk = time.perf_counter() - t0
    target = held_out(torch.from_numpy(mbdl.components_))

    reached: dict[str, float] = {}
    start = time.perf_counter()
    state = None
    check_every = 5
    step = 0
    gen = torch.Generator().manual_seed(0)
    while step < 5000:
        state, _ = F.learn_dictionary(train, n_atoms=args.atoms, lam=args.lam,
                                      batch_size=args.batch, n_epochs=1000,
                                      max_steps=check_every, lr=0.3, bias_correction=True,
                                      max_iter=200, tol=1e-3, resample_every=50,
                                      init=state, generator=gen)
        step += check_every
        pause = time.perf_counter()
        obj = held_out(state.dictionary)
        start += time.perf_counter() - pause  # evaluation time is not training time
        if obj <= target:
            reached = {"steps": step, "seconds": time.perf_counter() - start, "objective": obj}
            break
    print(f"data: {train.shape[0]} train / {test.shape[0]} held-out MiniLM word vectors, "
          f"d={train.shape[1]}, {args.atoms} atoms, lambda={args.lam}, threads="
          f"{torch.get_num_threads()}")
    print(f"sklearn MiniBatchDictionaryLearning ({args.sk_epochs} epochs, positive_code): "
          f"{t_sk:7.2f} s, held-out objective {target:.5f}")
    if reached:
        print(f"reprlab learn_dictionary reached it after {reached['steps']} steps: "
              f"{reached['seconds']:7.2f} s (objective {reached['objective']:.5f})")
        print(f"speed-up to the same objective: {t_sk / reached['seconds']:.1f}x")
    else:
        print(f"reprlab did not reach sklearn's objective in {step} steps "
              f"(last {obj:.5f})")


if __name__ == "__main__":
    main()
