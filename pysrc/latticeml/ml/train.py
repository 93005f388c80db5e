"""Training loop (``latticeml train CONFIG --out DIR [--resume]``) and its Python API, :class:`Trainer`.

Adam with a reduce-on-plateau learning rate and early stopping on the validation loss. Losses:

* ``force_mse`` (BP): mean |F_pred - F_true|² / c², with F the torque-relevant part H_⊥ for spins (ch3 Eq. 3.19),
  plus ``energy_weight`` × ((E_pred - E_true) / (N c))² (ch7 Eq. 7.67); c = the dataset's target scale.
* ``relative_l1`` (CNN, ch3 Eq. 3.11): (1/N_b) Σ_i Σ_a |y_i^a - ŷ_i^a| / (|y_i| + ε), ε = 1e-3.
* ``mse``: mean squared error of the standardised outputs (ΔE network; also CNN).

Determinism and exact resume: the batch order and the augmentation draws of epoch e come from
``numpy.random.default_rng([seed, e])``, so they do not depend on what ran before. A checkpoint after every epoch
holds the weights, the optimiser, scheduler and early-stopping state and the history; resuming from it gives the
same weights, bit for bit on CPU, as an uninterrupted run.
"""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, LatticeMLError
from ..io.paths import make_output_dir
from ..io.schema import REQUIRED, Param, check_mapping, validate_section
from ._config import load_yaml
from .data import Dataset, load_dataset, perpendicular, perpendicular_torch
from .modelfile import save_model
from .networks import NETWORKS, build_network

__all__ = ["Trainer", "train_from_config", "LOSSES", "relative_l1"]

LOSSES = ("force_mse", "relative_l1", "mse")
DEFAULT_LOSS = {"bp": "force_mse", "cnn": "relative_l1", "delta_e": "mse", "fk_delta_e": "mse"}


def relative_l1(pred: torch.Tensor, true: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Eq. 3.11 of the dissertation: Σ_a |y^a - ŷ^a| / (|y| + ε), averaged over sites; vectors on the last axis."""
    return ((pred - true).abs().sum(-1) / (true.norm(dim=-1) + eps)).mean()


def torch_device(name, field: str = "device") -> torch.device:
    """The torch device for ``name`` by the rule of the exact side (:func:`~latticeml.electrons.torch_dense.
    resolve_device`: "auto" is CUDA when torch sees a GPU, "cuda" without a GPU is a one-line error naming ``field``),
    with the CPU where that rule would fall back to numpy."""
    from ..electrons.torch_dense import resolve_device

    return torch.device(resolve_device(name, field) or "cpu")


class Trainer:
    """Fit a network of :data:`~latticeml.ml.networks.NETWORKS` to a :class:`~latticeml.ml.data.Dataset`.

    Parameters
    ----------
    network : nn.Module
        A fresh network (its normalisation buffers are set from ``train`` here).
    train, val : Dataset
        Training and validation rows. For "bp" and "cnn" the inputs are site-ordered fields (S, N, C) and the
        targets forces (S, N, C); for "fk_delta_e" inputs are descriptors (S, F) and targets (S, n_out).
    lattice : Lattice, optional
        Needed by "bp" (neighbour table), "cnn" (image shape) and augmentation; default: the dataset's.
    loss : str, default per network kind
    lr, batch_size, max_epochs, patience, plateau_patience, plateau_factor, min_lr : training schedule
    energy_weight : float, default 0
        Weight of the per-site energy error in the BP loss.
    augment : dict, optional
        ``{"point_group": bool, "spin_rotation": bool, "time_reversal": bool}`` (see :mod:`.augment`).
    project_output : bool, default False
        CNN spin models: project the prediction to H_⊥ before the loss, so that the loss compares torques (Eq. 3.11's
        S × ŷ does not see ŷ's part along S, nor does LLG) and the network need not learn the projection
        H − (H·S)S itself; the model file records ``output_projection: "perpendicular"`` and
        :class:`~latticeml.calculators.ml.CNNFieldCalculator` projects the same way at inference.
    seed : int
    device : {"cpu", "cuda", "auto"}
    checkpoint : path, optional
        Written after every epoch (atomically); :meth:`resume` reads it back.
    progress : bool
        A tqdm bar over epochs with the current losses.

    Attributes
    ----------
    history_ : list of dict
        Per epoch: train loss, validation loss, learning rate.
    best_val_ : float
    """

    def __init__(self, network, train: Dataset, val: Dataset, *, lattice=None, loss: str | None = None,
                 lr: float = 1e-3, batch_size: int = 8, max_epochs: int = 100, patience: int = 20,
                 plateau_patience: int = 5, plateau_factor: float = 0.5, min_lr: float = 1e-6,
                 energy_weight: float = 0.0, augment: dict | None = None, seed: int = 0, device: str = "cpu",
                 checkpoint=None, progress: bool = False, project_output: bool = False):
        self.kind = network.kind
        self.loss_name = loss or DEFAULT_LOSS[self.kind]
        if self.loss_name not in LOSSES:
            raise ValueError(f"unknown loss {self.loss_name!r}; choose one of {LOSSES}")
        if len(train) == 0 or len(val) == 0:
            raise LatticeMLError("training needs non-empty train and validation splits; generate more runs")
        self.device = torch_device(device, "training.device")
        self.lattice = lattice if lattice is not None else train.lattice()
        self.field_kind = train.metadata.get("field_kind", "")
        if project_output and (self.kind != "cnn" or self.field_kind != "spin"):
            raise ConfigError("training.project_output", "only CNN spin-field models have an output to project; "
                              "remove project_output")
        self.project_output = bool(project_output)
        self.network = network.to(self.device)
        if self.kind == "bp":
            self.network.attach(self.lattice)
        self.train_data, self.val_data = train, val
        self.batch_size, self.max_epochs, self.patience = batch_size, max_epochs, patience
        if energy_weight and not np.isfinite(train.energy).all():
            raise ConfigError("training.energy_weight", "the dataset has no energies (the exact calculator gave "
                              "fields only); set energy_weight: 0")
        self.energy_weight, self.seed = energy_weight, seed
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.progress = progress
        self.target_scale = float(train.normalization.get("target_scale", 1.0)) or 1.0
        self._set_normalization()
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=lr)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, factor=plateau_factor, patience=plateau_patience, min_lr=min_lr)
        self.augmenter = None
        if augment and any(augment.values()) and self.kind not in ("bp", "cnn"):
            raise ConfigError("training.augment", f"'{self.kind}' inputs are invariant descriptors; remove augment")
        if augment and any(augment.values()):
            from .augment import SymmetryAugmenter

            self.augmenter = SymmetryAugmenter(self.lattice, self.field_kind, **augment)
        self._tensors = {name: self._to_tensors(ds) for name, ds in (("train", train), ("val", val))}
        self.epoch = 0
        self.history_: list[dict] = []
        self.best_val_ = math.inf
        self.best_state_ = copy.deepcopy(self.network.state_dict())
        self.bad_epochs = 0

    # ------------------------------------------------------------------ data and normalisation
    def _to_tensors(self, ds: Dataset) -> dict:
        t = {"x": torch.as_tensor(ds.inputs, dtype=torch.float32, device=self.device),
             "y": torch.as_tensor(ds.targets, dtype=torch.float32, device=self.device),
             "e": torch.as_tensor(ds.energy, dtype=torch.float32, device=self.device)}
        if self.kind in ("bp", "cnn") and self.field_kind == "spin":
            t["y"] = torch.as_tensor(perpendicular(ds.targets, ds.inputs), dtype=torch.float32, device=self.device)
        return t

    def _set_normalization(self):
        net, ds = self.network, self.train_data
        if self.kind == "bp":
            with torch.no_grad():
                feats = torch.cat([net.featurizer(torch.as_tensor(ds.inputs[k:k + 64], dtype=torch.float32,
                                                                  device=self.device)).flatten(0, 1)
                                   for k in range(0, len(ds), 64)])
            net.set_normalization(feats.mean(0), feats.std(0), self.target_scale)
        elif self.kind == "cnn":
            net.set_normalization(self.target_scale)
        else:
            net.set_normalization(ds.inputs.mean(0), ds.inputs.std(0), ds.targets.mean(0), ds.targets.std(0))

    def _image(self, fields: torch.Tensor) -> torch.Tensor:
        """Site-ordered (B, N, C) -> (B, C, L1, L2) in the documented ``Lattice.to_image`` layout."""
        return fields.reshape(fields.shape[0], *self.lattice.shape, fields.shape[-1]).movedim(-1, 1)

    # ------------------------------------------------------------------ losses
    def _loss(self, x, y, e, *, training: bool) -> torch.Tensor:
        net = self.network
        if self.kind == "bp":
            out = net(x, forces=True, create_graph=training)
            pred = out["forces"]
            if self.field_kind == "spin":
                pred = pred - (pred * x).sum(-1, keepdim=True) * x
            loss = ((pred - y) ** 2).sum(-1).mean() / self.target_scale ** 2
            if self.energy_weight:
                n = x.shape[1]
                loss = loss + self.energy_weight * (((out["energy"] - e) / (n * self.target_scale)) ** 2).mean()
            return loss
        if self.kind == "cnn":
            pred = net.standardized(self._image(x)).movedim(1, -1).reshape(y.shape)
            if self.project_output:
                pred = perpendicular_torch(pred, x)
            true = y / self.target_scale
            return relative_l1(pred, true) if self.loss_name == "relative_l1" else ((pred - true) ** 2).mean()
        true = (y - net.target_mean) / net.target_std
        return ((net.standardized(x) - true) ** 2).mean()

    def _run_epoch(self) -> float:
        rng = np.random.default_rng([self.seed, self.epoch])
        data = self._tensors["train"]
        order = torch.as_tensor(rng.permutation(len(data["x"])), device=self.device)
        self.network.train()
        total, count = 0.0, 0
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            x, y, e = data["x"][idx], data["y"][idx], data["e"][idx]
            if self.augmenter is not None:
                x, y = self.augmenter(x, y, rng)
            self.optimizer.zero_grad()
            loss = self._loss(x, y, e, training=True)
            loss.backward()
            self.optimizer.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        return total / count

    def evaluate(self, split: str = "val") -> float:
        """Mean loss over a split held by the trainer ("train" or "val")."""
        data = self._tensors[split]
        self.network.eval()
        total = 0.0
        for start in range(0, len(data["x"]), self.batch_size):
            sl = slice(start, start + self.batch_size)
            with torch.enable_grad() if self.kind == "bp" else torch.no_grad():
                loss = self._loss(data["x"][sl], data["y"][sl], data["e"][sl], training=False)
            total += float(loss.detach()) * len(data["x"][sl])
        return total / len(data["x"])

    # ------------------------------------------------------------------ loop, checkpoints
    def fit(self, *, stop_after: int | None = None) -> list[dict]:
        """Train until early stopping or ``max_epochs``; ``stop_after`` epochs of this call at most (to split a run).

        On normal completion the best weights (lowest validation loss) are loaded into the network.
        """
        from tqdm import tqdm

        bar = tqdm(total=self.max_epochs, initial=self.epoch, desc="training", disable=not self.progress)
        done_here = 0
        while self.epoch < self.max_epochs and self.bad_epochs < self.patience:
            if stop_after is not None and done_here >= stop_after:
                bar.close()
                return self.history_
            train_loss = self._run_epoch()
            val_loss = self.evaluate("val")
            self.scheduler.step(val_loss)
            self.epoch += 1
            done_here += 1
            lr = self.optimizer.param_groups[0]["lr"]
            self.history_.append({"epoch": self.epoch, "train_loss": train_loss, "val_loss": val_loss, "lr": lr})
            if val_loss < self.best_val_:
                self.best_val_, self.bad_epochs = val_loss, 0
                self.best_state_ = copy.deepcopy(self.network.state_dict())
            else:
                self.bad_epochs += 1
            if self.checkpoint:
                self.save_checkpoint(self.checkpoint)
            bar.set_postfix(train=f"{train_loss:.3e}", val=f"{val_loss:.3e}", lr=f"{lr:.1e}")
            bar.update(1)
        bar.close()
        self.network.load_state_dict(self.best_state_)
        return self.history_

    @property
    def finished(self) -> bool:
        return self.epoch >= self.max_epochs or self.bad_epochs >= self.patience

    def save_checkpoint(self, path) -> None:
        """Everything needed to continue exactly: weights, optimiser, scheduler, early stopping, history."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save({"network": self.network.state_dict(), "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(), "epoch": self.epoch, "best_val": self.best_val_,
                    "best_state": self.best_state_, "bad_epochs": self.bad_epochs, "history": self.history_,
                    "seed": self.seed}, tmp)
        tmp.replace(path)

    def resume(self, path) -> "Trainer":
        """Load a checkpoint written by :meth:`save_checkpoint` (same network, data and settings)."""
        try:
            ck = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as err:  # truncated or foreign file
            raise LatticeMLError(f"training checkpoint {str(path)!r} is damaged ({type(err).__name__}); delete the "
                                 "run folder and train again") from None
        if ck["seed"] != self.seed:
            raise LatticeMLError(f"checkpoint {str(path)!r} was trained with seed {ck['seed']}, not {self.seed}")
        self.network.load_state_dict(ck["network"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.scheduler.load_state_dict(ck["scheduler"])
        self.epoch, self.best_val_, self.bad_epochs = ck["epoch"], ck["best_val"], ck["bad_epochs"]
        self.best_state_, self.history_ = ck["best_state"], ck["history"]
        return self

    # ------------------------------------------------------------------ predictions and outputs
    def predict(self, ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
        """(prediction, truth) in physical units for every row of ``ds``. Spins: the truth is H_⊥; a BP field is
        projected to H_⊥, a CNN's output only when it was trained with ``project_output`` (as the calculator does)."""
        t = self._to_tensors(ds)
        net = self.network.eval()
        preds = []
        for start in range(0, len(t["x"]), self.batch_size):
            x = t["x"][start:start + self.batch_size]
            if self.kind == "bp":
                p = net(x, forces=True)["forces"].detach()
                if self.field_kind == "spin":
                    p = p - (p * x).sum(-1, keepdim=True) * x
            elif self.kind == "cnn":
                with torch.no_grad():
                    p = net(self._image(x)).movedim(1, -1).reshape(x.shape[0], -1, x.shape[-1])
                if self.project_output:  # as the calculator does at inference: the part along S is not trained
                    p = perpendicular_torch(p, x)
            else:
                with torch.no_grad():
                    p = net(x)
            preds.append(p.cpu().numpy())
        return np.concatenate(preds), t["y"].cpu().numpy()

    def model_metadata(self, extra: dict | None = None) -> dict:
        """Metadata for the model file: lattice, model, field kind, target and normalisation of the data."""
        meta = self.train_data.metadata
        out = {"lattice": meta["lattice"], "model": meta.get("model", {}), "field_kind": self.field_kind,
               "target": "field_perp" if self.field_kind == "spin" and self.kind == "cnn" else meta.get("target"),
               "normalization": self.train_data.normalization,
               "training": {"epochs": self.epoch, "best_val_loss": self.best_val_, "loss": self.loss_name}}
        if self.project_output:
            out["output_projection"] = "perpendicular"
        out.update(extra or {})
        return out


# ---------------------------------------------------------------------------------------------- plots
def plot_learning_curve(history: list[dict], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.semilogy(ep, [h["train_loss"] for h in history], label="train")
    ax.semilogy(ep, [h["val_loss"] for h in history], label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_parity(pred: np.ndarray, true: np.ndarray, path, label: str = "target") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p, t = pred.ravel(), true.ravel()
    keep = np.isfinite(t)
    p, t = p[keep], t[keep]
    if len(t) > 20000:  # a readable scatter; the metric uses every point
        sel = np.random.default_rng(0).choice(len(t), 20000, replace=False)
        p, t = p[sel], t[sel]
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot(t, p, ".", ms=1, alpha=0.4)
    lim = [float(min(t.min(), p.min())), float(max(t.max(), p.max()))]
    ax.plot(lim, lim, "k-", lw=0.8)
    ax.set_xlabel(f"exact {label}")
    ax.set_ylabel(f"ML {label}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------- config entry point
_TRAIN_KEYS = ("data", "network", "training")
_TRAINING_PARAMS = {
    "loss": Param("choice", None, choices=LOSSES),
    "lr": Param("float", 1e-3, "Adam learning rate", low=0, low_open=True, high=1),
    "batch_size": Param("int", 8, "snapshots (or samples) per batch", low=1),
    "max_epochs": Param("int", 100, low=1),
    "patience": Param("int", 20, "epochs without validation improvement before stopping", low=1),
    "plateau_patience": Param("int", 5, "epochs without improvement before the learning rate drops", low=0),
    "plateau_factor": Param("float", 0.5, "learning-rate factor on a plateau", low=0, low_open=True, high=1,
                            high_open=True),
    "min_lr": Param("float", 1e-6, low=0),
    "energy_weight": Param("float", 0.0, "weight of the per-site energy error (BP)", low=0),
    "project_output": Param("bool", False, "CNN spin models: the loss compares the output's torque part (H_⊥)"),
    "seed": Param("int", 0, low=0),
    "device": Param("choice", "cpu", choices=("cpu", "cuda", "auto")),
}
_AUGMENT_PARAMS = {k: Param("bool", False) for k in ("point_group", "spin_rotation", "time_reversal")}


def _parse_train(cfg: dict, config_path: Path) -> dict:
    for key in cfg:
        if key not in _TRAIN_KEYS:
            raise ConfigError(str(key), f"unknown key; valid keys: {', '.join(_TRAIN_KEYS)}")
    data = Path(Param("str", REQUIRED, "path of the dataset file").check("data", cfg.get("data")))
    if not data.is_absolute() and not data.exists() and (config_path.parent / data).exists():
        data = config_path.parent / data  # relative paths: the working directory first, then beside the config
    data = data.absolute()  # the saved config.json must not depend on the working directory
    net = check_mapping("network", cfg.get("network"))
    kind = Param("choice", REQUIRED, choices=tuple(sorted(NETWORKS))).check("network.kind", net.get("kind"))
    opts = validate_section("training", check_mapping("training", cfg.get("training")), _TRAINING_PARAMS,
                            ignore=("augment",))
    opts["augment"] = validate_section("training.augment", check_mapping("training.augment", opts.get("augment")),
                                       _AUGMENT_PARAMS)
    opts["loss"] = opts["loss"] or DEFAULT_LOSS[kind]
    return {"data": data, "kind": kind, "net_params": {k: v for k, v in net.items() if k != "kind"}, "opts": opts}


def _build(kind: str, params: dict, dataset: Dataset):
    """The network for ``kind``, filling the arguments that the data determine (lattice, widths)."""
    params = dict(params)
    lattice_name = dataset.metadata["lattice"]["name"]
    if kind == "bp":
        desc = dict(params.get("descriptor", {"kind": "spin_bonds", "cutoff": 1.5}))
        desc.setdefault("lattice", lattice_name)
        params["descriptor"] = desc
        params.setdefault("field_dim", int(dataset.inputs.shape[-1]))
    elif kind == "cnn":
        params.setdefault("lattice", lattice_name)
        params.setdefault("in_channels", int(dataset.inputs.shape[-1]))
        params.setdefault("out_channels", int(dataset.targets.shape[-1]))
    else:
        params.setdefault("n_features", int(dataset.inputs.shape[-1]))
        params.setdefault("n_out", int(dataset.targets.shape[-1]))
    # layer sizes: torch would build empty layers or fail deep inside
    for key in ("width", "n_blocks", "hidden", "tail"):
        value = params.get(key, 1)
        sizes = value if isinstance(value, list) and key in ("hidden", "tail") else [value]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in sizes):
            raise ConfigError(f"network.{key}", f"{value!r}: layer sizes must be positive integers")
    try:
        return build_network(kind, **params)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ConfigError("network", f"bad parameter for a '{kind}' network: {err}") from err


def _error_metrics(pred: np.ndarray, true: np.ndarray) -> dict:
    keep = np.isfinite(true)
    err = pred[keep] - true[keep]
    return {"rows": int(len(pred)), "mse": float(np.mean(err ** 2)), "mae": float(np.mean(np.abs(err))),
            "relative_rmse": float(np.sqrt(np.mean(err ** 2) / max(np.mean(true[keep] ** 2), 1e-300)))}


def _evaluation_split(ds: Dataset) -> tuple[str, Dataset]:
    test = ds.subset("test")
    return ("test", test) if len(test) else ("val", ds.subset("val"))


def _check_augmentation(augment: dict, model: dict) -> None:
    """Spin rotations and time reversal relabel a target correctly only if it has no uniform Zeeman part; the
    generating model's field (``h_ext`` of the s-d model, ``field`` of the Heisenberg model) would be rotated with
    it. The field belongs under ``dynamics.h_ext`` when generating: the stepper adds it, the targets leave it out."""
    zeeman = {k: model[k] for k in ("h_ext", "field") if k in model and np.any(np.asarray(model[k]) != 0)}
    used = [k for k in ("spin_rotation", "time_reversal") if augment.get(k)]
    if zeeman and used:
        key, value = next(iter(zeeman.items()))
        raise ConfigError(f"training.augment.{used[0]}", f"the dataset's targets include the Zeeman field "
                                                         f"model.{key} = {value}, which {used[0]} would rotate "
                                                         "with the spins; generate with the field under "
                                                         "dynamics.h_ext (added by the stepper), or turn it off")


def _train_single(args, dataset, out: Path, resume: bool):
    """BP / CNN / single ΔE network: one Trainer; returns (network, metadata, metrics)."""
    ckpt = out / "checkpoint.pt"
    _check_augmentation(args["opts"]["augment"], dataset.metadata.get("model", {}))
    torch.manual_seed(args["opts"]["seed"])
    network = _build(args["kind"], args["net_params"], dataset)
    trainer = Trainer(network, dataset.subset("train"), dataset.subset("val"), checkpoint=ckpt, progress=True,
                      **args["opts"])
    if resume and ckpt.is_file():  # interrupted before the first epoch ended: nothing to restore
        trainer.resume(ckpt)
    trainer.fit()
    (out / "history.json").write_text(json.dumps(trainer.history_, indent=2))
    plot_learning_curve(trainer.history_, out / "learning_curve.png")
    split, evaluated = _evaluation_split(dataset)
    pred, true = trainer.predict(evaluated)
    metrics = {"split": split, **_error_metrics(pred, true), "epochs": trainer.epoch,
               "best_val_loss": trainer.best_val_}
    label = "field component (H_⊥)" if trainer.field_kind == "spin" else "force component"
    plot_parity(pred, true, out / "parity.png", label=label)
    return trainer.network, trainer.model_metadata({"test_metrics": metrics}), metrics


def _train_fk(args, dataset, out: Path, resume: bool):
    """The FK ΔE model: one Trainer per environment class; returns (model, metadata, metrics)."""
    from .fk import fk_class_datasets, train_fk_model

    params = dict(args["net_params"])
    rc = float(params.pop("rc", 10.01))
    torch.manual_seed(args["opts"]["seed"])
    model, trainers = train_fk_model(dataset, rc=rc, network=params, checkpoint_dir=out, resume=resume,
                                     progress=True, **args["opts"])
    histories = {name: tr.history_ for name, tr in trainers.items() if tr is not None}
    (out / "history.json").write_text(json.dumps(histories, indent=2))
    plot_learning_curve(max(histories.values(), key=len), out / "learning_curve.png")
    split, evaluated = _evaluation_split(dataset)
    metrics: dict = {"split": split, "classes": {}}
    preds, trues = [], []
    for name, ds in fk_class_datasets(evaluated, rc).items():
        if len(ds) and trainers[name] is not None:
            p, t = trainers[name].predict(ds)
            metrics["classes"][name] = _error_metrics(p, t)
            preds.append(p.ravel())
            trues.append(t.ravel())
    if preds:
        metrics.update(_error_metrics(np.concatenate(preds), np.concatenate(trues)))
        plot_parity(np.concatenate(preds), np.concatenate(trues), out / "parity.png", label="class target T")
    meta = {"lattice": dataset.metadata["lattice"], "model": dataset.metadata.get("model", {}),
            "field_kind": "occupation", "target": "move_energies", "normalization": dataset.normalization,
            "training": {"class_counts": model.class_counts_, "loss": "mse",
                         "epochs": {n: tr.epoch for n, tr in trainers.items() if tr is not None}},
            "test_metrics": metrics}
    return model, meta, metrics


def train_from_config(config_path, out, resume: bool = False) -> Path:
    """``latticeml train CONFIG --out DIR [--resume]``; returns the path of the trained model file.

    DIR receives: ``model.pt`` (best weights + metadata), ``checkpoint*.pt`` (after every epoch),
    ``history.json``, ``metrics.json`` (errors on the test split, or validation if there is no test split),
    ``learning_curve.png``, ``parity.png`` and the resolved ``config.json``. With ``resume`` the run continues
    from the checkpoints in DIR; the config must be the one the run was started with.
    """
    config_path = Path(config_path)
    cfg = load_yaml(config_path)
    args = _parse_train(cfg, config_path)
    out = Path(out)
    resolved = {"data": str(args["data"]), "network": dict(cfg["network"]), "training": args["opts"]}
    started = (out / "config.json").is_file()
    if resume:
        if not started:
            raise LatticeMLError(f"nothing to resume: {str(out)!r} holds no training run (run without --resume)")
        if json.loads((out / "config.json").read_text()) != json.loads(json.dumps(resolved)):
            raise LatticeMLError(f"config differs from the one {str(out)!r} was started with; "
                                 "resume with the same config or train into a new --out")
    elif started:
        raise LatticeMLError(f"{str(out)!r} already holds a training run; pass --resume or choose another --out")
    make_output_dir(out)
    dataset = load_dataset(args["data"])  # before config.json marks DIR as a run: a missing file leaves DIR reusable
    (out / "config.json").write_text(json.dumps(resolved, indent=2))

    train_fn = _train_fk if args["kind"] == "fk_delta_e" else _train_single
    try:
        network, meta, metrics = train_fn(args, dataset, out, resume)
    except ConfigError:
        if not resume and not any(out.glob("checkpoint*.pt")):  # a refused network is not a started run
            (out / "config.json").unlink(missing_ok=True)
        raise
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    meta["dataset"] = str(args["data"])
    path = save_model(out / "model.pt", network, meta)
    print(json.dumps({"model": str(path), **{k: v for k, v in metrics.items() if k != "classes"}}))
    return path
