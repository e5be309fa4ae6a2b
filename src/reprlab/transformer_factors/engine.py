"""The sparse-coding operations the factor pipeline needs, over :mod:`reprlab.sparse`'s public
functional API only (``init_dictionary``, ``init_state``, ``dictionary_step``,
``sparse_encode``). The adapter owns its :class:`~reprlab.sparse.DictState` and random
generator, so checkpoints save and restore them without touching any estimator's private
attributes."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["FactorEngine"]


class FactorEngine:
    """Non-negative dictionary learning for hidden states.

    ``partial_fit(x, weights)`` takes one dictionary step on a batch (the dictionary is
    initialised from the first batch's rows); ``encode(x)`` returns non-negative codes
    (N, K); ``dictionary`` is (K, d) with unit-norm rows. ``state_dict``/``load_state_dict``
    round-trip everything a resumed run needs (atoms, Hessian diagonal, step, usage, RNG).
    ``FactorEngine.from_dictionary(phi, lam=...)`` wraps a saved dictionary for encoding.
    """

    def __init__(self, n_factors: int, dim: int, *, lam: float, seed: int = 0,
                 max_iter: int = 200, tol: float = 1e-4, lr: float = 0.005,
                 bias_correction: bool = False, resample_every: int = 0,
                 working_set: int | None = None,
                 device: str | torch.device = "cpu") -> None:
        if not (isinstance(n_factors, int) and n_factors >= 1):
            raise ValueError(f"n_factors must be an int >= 1, got {n_factors!r}")
        if not (isinstance(dim, int) and dim >= 1):
            raise ValueError(f"dim must be an int >= 1, got {dim!r}")
        if not lam >= 0:
            raise ValueError(f"lam must be >= 0, got {lam!r}")
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr!r}")
        if not (isinstance(max_iter, int) and max_iter >= 1):
            raise ValueError(f"max_iter must be an int >= 1, got {max_iter!r}")
        self.n_factors, self.dim = n_factors, dim
        self.lam, self.max_iter, self.tol, self.lr = float(lam), max_iter, float(tol), float(lr)
        self.bias_correction, self.resample_every = bool(bias_correction), int(resample_every)
        if working_set is not None and not (isinstance(working_set, int) and working_set >= 1):
            raise ValueError(f"working_set must be None or an int >= 1, got {working_set!r}")
        self.working_set = working_set
        self.device = torch.device(device)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.state: Any = None

    @classmethod
    def from_dictionary(cls, dictionary: torch.Tensor, *, lam: float, max_iter: int = 300,
                        tol: float = 1e-4, working_set: int | None = None,
                        device: str | torch.device = "cpu") -> FactorEngine:
        from reprlab.sparse import init_state

        eng = cls(dictionary.shape[0], dictionary.shape[1], lam=lam, max_iter=max_iter,
                  tol=tol, working_set=working_set, device=device)
        eng.state = init_state(dictionary.to(eng.device).float())
        return eng

    @property
    def dictionary(self) -> torch.Tensor:
        if self.state is None:
            raise ValueError("the engine has no dictionary yet; call partial_fit first")
        return self.state.dictionary

    def partial_fit(self, x: torch.Tensor, weights: torch.Tensor | None = None) -> Any:
        """One dictionary step on ``x`` (B, d); returns the step's ``StepInfo``."""
        from reprlab.sparse import dictionary_step, init_dictionary, init_state

        x = x.to(self.device)
        if self.state is None:
            phi = init_dictionary(self.n_factors, x.shape[1], x=x, generator=self.generator,
                                  dtype=x.dtype, device=x.device)
            self.state = init_state(phi.to(x))
        w = None if weights is None else weights.to(x)
        self.state, info = dictionary_step(
            self.state, x, lam=self.lam, weights=w, lr=self.lr, positive=True,
            max_iter=self.max_iter, tol=self.tol, resample_every=self.resample_every,
            bias_correction=self.bias_correction, generator=self.generator)
        return info

    def state_dict(self) -> dict[str, Any]:
        return {"state": None if self.state is None else dict(self.state._asdict()),
                "gen": self.generator.get_state()}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        from reprlab.sparse import DictState

        self.state = None if sd["state"] is None else DictState(**sd["state"])
        self.generator.set_state(sd["gen"])

    def encode(self, x: torch.Tensor, *, max_iter: int | None = None) -> torch.Tensor:
        """Non-negative codes (N, K) of ``x`` (N, d) with the current dictionary."""
        from reprlab.sparse import sparse_encode

        it = int(self.max_iter if max_iter is None else max_iter)
        d = self.dictionary
        kw = {} if self.working_set is None else {"working_set": self.working_set}
        return sparse_encode(x.to(d), d, lam=self.lam, positive=True, max_iter=it,
                             tol=self.tol, **kw)
