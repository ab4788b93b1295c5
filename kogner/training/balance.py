"""Running loss balance: each loss term divided by a running mean of its own recent values.

KoGNER's loss is ``a * lang_loss + b * dist_loss`` (paper eq. 7; combined by ``LossSettings.combine``). Both terms
are means (``modeling_kogner/losses_kogner.py``), but they need not stay on one scale: as training goes on, the
span×label BCE falls (almost every pair is an easy negative) while the distillation loss need not, so the weights
``a : b`` no longer say how much each term drives the shared layers (measured in BENCHMARKS.md, "Recipe choices on
dev"). With ``loss_balance="running_mean"`` each term is divided by a bias-corrected exponential moving average of
its own detached value; the weighted terms then keep the shares ``a : b`` of the loss throughout training, which is
what the paper's weights express. Only batches that have the term update its average (a batch without KG-linked
spans has no distillation term).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunningLossBalance:
    """Bias-corrected exponential moving averages of loss terms, by name (``momentum`` ≈ a 1/(1-momentum)-step
    window)."""

    momentum: float = 0.99
    averages: dict[str, float] = field(default_factory=dict)
    updates: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")

    def update(self, name: str, value: float) -> float:
        """Fold ``value`` into the average of ``name``; returns the bias-corrected average (> 0) to divide by."""
        count = self.updates.get(name, 0) + 1
        self.averages[name] = self.momentum * self.averages.get(name, 0.0) + (1 - self.momentum) * float(value)
        self.updates[name] = count
        return max(self.averages[name] / (1 - self.momentum**count), 1e-12)

    def state_dict(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "averages": dict(self.averages), "updates": dict(self.updates)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.momentum = float(state["momentum"])
        self.averages = {name: float(value) for name, value in state["averages"].items()}
        self.updates = {name: int(value) for name, value in state["updates"].items()}
