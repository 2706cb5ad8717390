"""A torch multilayer perceptron wrapped as a scikit-learn estimator.

torch is imported inside ``fit``/``predict`` only, so ``import tools`` stays
cheap for processes that never train a network. The fitted weights are kept as
numpy arrays: a saved model unpickles without torch classes and on a machine
without CUDA, whatever device it was trained on.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, check_X_y

from schemas import ConfigError

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

_PREDICT_BATCH = 8192
_MIN_ROWS_FOR_VALIDATION = 20
# small data: batches shrink so that an epoch makes at least this many updates, else early
# stopping judges a barely trained network on a noisy validation set (measured on diabetes)
_MIN_STEPS_PER_EPOCH = 16


def resolve_device(device: str, cuda_available: bool) -> str:
    """``"auto"`` → CUDA when it is available, else CPU; an explicit CUDA needs CUDA."""
    if device == "auto":
        return "cuda" if cuda_available else "cpu"
    if device == "cpu":
        return "cpu"
    if device == "cuda" or device.startswith("cuda:"):
        if not cuda_available:
            raise ConfigError(f"The 'device' parameter asks for {device!r}, but CUDA is not "
                              "available on this machine; use 'auto' or 'cpu'.")
        return device
    raise ConfigError(f"The 'device' parameter must be 'auto', 'cpu', 'cuda' or 'cuda:N'; "
                      f"got {device!r} instead.")


def _make_net(n_in: int, hidden: int, n_layers: int, dropout: float,
              n_out: int) -> torch.nn.Sequential:
    from torch import nn

    layers: list[nn.Module] = []
    width = n_in
    for _ in range(n_layers):
        layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
        width = hidden
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


class _TorchMLP(BaseEstimator):
    """Shared training loop: AdamW, mini-batches, early stopping on a held-out split.

    ``validation_fraction`` of the rows (stratified for classifiers) are held
    out; training stops after ``patience`` epochs without a better validation
    loss and keeps the best epoch's weights. Below 20 rows there is no split and
    all ``max_epochs`` run. ``batch_size`` is capped so that an epoch makes at
    least 16 updates. Training is seeded from ``random_state`` inside a forked
    torch RNG, so the caller's global random state is left as it was.
    """

    _classification = False

    def __init__(self, hidden_size: int = 256, n_layers: int = 2, dropout: float = 0.1,
                 learning_rate: float = 1e-3, weight_decay: float = 1e-4,
                 batch_size: int = 128, max_epochs: int = 100, patience: int = 10,
                 validation_fraction: float = 0.1, device: str = "auto",
                 random_state: int | None = None, n_threads: int = 1) -> None:
        self.hidden_size = hidden_size
        self.n_layers = n_layers
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.device = device
        self.random_state = random_state
        self.n_threads = n_threads

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # densified on the way in
        return tags

    def _dense(self, X: Any) -> np.ndarray:
        return np.ascontiguousarray(X.toarray() if sp.issparse(X) else X, dtype=np.float32)

    def _training_data(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        X, y = check_X_y(X, y, accept_sparse=True, dtype=np.float32,
                         y_numeric=not self._classification)
        self.n_features_in_ = X.shape[1]
        return self._dense(X), y

    def _as_array(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "state_")
        X = check_array(X, accept_sparse=True, dtype=np.float32)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is "
                             f"expecting {self.n_features_in_} features as input.")
        return self._dense(X)

    def _split(self, target: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Row indices for training and for early stopping (None: no early stopping)."""
        idx = np.arange(len(target))
        if self.validation_fraction <= 0 or len(target) < _MIN_ROWS_FOR_VALIDATION:
            return idx, None
        stratify = None
        counts = np.bincount(target) if self._classification else np.zeros(0)
        n_val = math.ceil(self.validation_fraction * len(target))
        if len(counts) and counts.min() >= 2 and n_val >= len(counts):
            stratify = target
        train, val = train_test_split(idx, test_size=self.validation_fraction,
                                      random_state=seed, stratify=stratify)
        return np.sort(train), np.sort(val)

    def _check_params(self) -> None:
        name = type(self).__name__
        rules: list[tuple[str, bool, str]] = [
            ("hidden_size", self.hidden_size >= 1, "an int >= 1"),
            ("n_layers", self.n_layers >= 1, "an int >= 1"),
            ("dropout", 0.0 <= self.dropout < 1.0, "a float in [0, 1)"),
            ("learning_rate", self.learning_rate > 0, "a float > 0"),
            ("weight_decay", self.weight_decay >= 0, "a float >= 0"),
            ("batch_size", self.batch_size >= 1, "an int >= 1"),
            ("max_epochs", self.max_epochs >= 1, "an int >= 1"),
            ("patience", self.patience >= 1, "an int >= 1"),
            ("validation_fraction", 0.0 <= self.validation_fraction < 1.0, "a float in [0, 1)"),
            ("n_threads", self.n_threads >= 1, "an int >= 1"),
        ]
        for key, ok, rule in rules:
            if not ok:
                raise ConfigError(f"The '{key}' parameter of {name} must be {rule}; "
                                  f"got {getattr(self, key)!r} instead.")

    def _fit_network(self, X: np.ndarray, target: np.ndarray, n_out: int) -> None:
        import torch

        self._check_params()
        self.device_ = resolve_device(self.device, torch.cuda.is_available())
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        train, val = self._split(target, seed)
        n_threads = torch.get_num_threads()
        torch.set_num_threads(max(1, self.n_threads))
        devices = [torch.device(self.device_).index or 0] if self.device_ != "cpu" else []
        try:
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(seed)
                state = self._train(torch, X, target, train, val, n_out, seed)
        finally:
            torch.set_num_threads(n_threads)
        self.state_ = {k: v.detach().cpu().numpy() for k, v in state.items()}
        self.n_outputs_ = n_out

    def _train(self, torch: Any, X: np.ndarray, target: np.ndarray, train: np.ndarray,
               val: np.ndarray | None, n_out: int, seed: int) -> dict[str, Any]:
        device = torch.device(self.device_)
        xs = torch.from_numpy(X).to(device)
        ys = torch.from_numpy(target).to(device)
        net = _make_net(X.shape[1], self.hidden_size, self.n_layers, self.dropout, n_out)
        net = net.to(device)
        opt = torch.optim.AdamW(net.parameters(), lr=self.learning_rate,
                                weight_decay=self.weight_decay)
        loss_fn = torch.nn.CrossEntropyLoss() if self._classification else torch.nn.MSELoss()
        gen = torch.Generator().manual_seed(seed)
        train_t = torch.from_numpy(train).to(device)
        batch = max(1, min(int(self.batch_size), len(train) // _MIN_STEPS_PER_EPOCH))
        best, best_state, since_best = float("inf"), None, 0
        for epoch in range(1, self.max_epochs + 1):
            self.n_epochs_ = epoch
            net.train()
            order = train_t[torch.randperm(len(train), generator=gen).to(device)]
            for start in range(0, len(order), batch):
                rows = order[start:start + batch]
                opt.zero_grad(set_to_none=True)
                loss_fn(self._head(net(xs[rows])), ys[rows]).backward()
                opt.step()
            if val is None:
                continue
            net.eval()
            with torch.no_grad():
                rows = torch.from_numpy(val).to(device)
                val_loss = float(loss_fn(self._head(net(xs[rows])), ys[rows]))
            if val_loss < best - 1e-6:
                best, since_best = val_loss, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                since_best += 1
                if since_best >= self.patience:
                    break
        self.best_validation_loss_ = best if val is not None else None
        logger.debug("%s: %d epochs on %s, best validation loss %s",
                     type(self).__name__, self.n_epochs_, device, self.best_validation_loss_)
        return best_state if best_state is not None else net.state_dict()

    def _head(self, out: Any) -> Any:
        return out if self._classification else out.squeeze(-1)

    def _forward(self, X: Any) -> np.ndarray:
        """Raw network outputs, computed on CPU from the stored weights."""
        X = self._as_array(X)
        import torch

        with torch.device("meta"):  # no random init: leaves the global RNG alone, and is quick
            net = _make_net(self.n_features_in_, self.hidden_size, self.n_layers, self.dropout,
                            self.n_outputs_)
        net.load_state_dict({k: torch.from_numpy(v) for k, v in self.state_.items()},
                            assign=True)
        net.eval()
        n_threads = torch.get_num_threads()
        torch.set_num_threads(max(1, self.n_threads))
        try:
            with torch.no_grad():
                parts = [net(torch.from_numpy(X[i:i + _PREDICT_BATCH])).numpy()
                         for i in range(0, len(X), _PREDICT_BATCH)]
        finally:
            torch.set_num_threads(n_threads)
        if not parts:
            return np.zeros((0, self.n_outputs_), dtype=np.float64)
        return np.concatenate(parts).astype(np.float64)


class TorchMLPClassifier(ClassifierMixin, _TorchMLP):
    """MLP classifier: softmax over ``classes_`` (binary included), cross-entropy loss."""

    _classification = True

    def fit(self, X: Any, y: Any) -> TorchMLPClassifier:
        X, y = self._training_data(X, y)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError("TorchMLPClassifier needs at least 2 classes in y; got 1 class.")
        self._fit_network(X, codes.astype(np.int64), len(self.classes_))
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        logits = self._forward(X)
        logits -= logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        logits = self._forward(X)
        return self.classes_[np.argmax(logits, axis=1)]


class TorchMLPRegressor(RegressorMixin, _TorchMLP):
    """MLP regressor on an internally standardized target (MSE loss)."""

    def fit(self, X: Any, y: Any) -> TorchMLPRegressor:
        X, y = self._training_data(X, y)
        y = y.astype(np.float64)
        self.y_mean_ = float(y.mean())
        std = float(y.std())
        self.y_std_ = std if std > 0 else 1.0
        self._fit_network(X, ((y - self.y_mean_) / self.y_std_).astype(np.float32), 1)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self._forward(X)[:, 0] * self.y_std_ + self.y_mean_
