"""The paper's two architectures (PAPER-DIGEST.md section 2).

Every ReLU, pool and dropout is a module of its own and none is reused: Captum's DeepLift needs
this (PITFALLS.md 3-4), and the explain stage switches dropout on by module type.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from txai.config import grid_side


class MLP(nn.Module):
    """Linear(G, hidden) -> BatchNorm -> ReLU -> Dropout -> Linear(hidden, C)."""

    def __init__(self, n_genes: int, n_classes: int, hidden: int = 128, dropout: float = 0.25):
        super().__init__()
        self.hidden = nn.Linear(n_genes, hidden)
        self.bn = nn.BatchNorm1d(hidden)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: samples x genes (log2 TPM + 1) -> class logits."""
        return self.out(self.dropout(self.relu(self.bn(self.hidden(x)))))

    @property
    def n_genes(self) -> int:
        return self.hidden.in_features

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """The model's input for gene vectors (the MLP takes them as they are)."""
        return x

    def genes(self, values: torch.Tensor) -> torch.Tensor:
        """Values on the model's inputs -> samples x genes (the same for the MLP)."""
        return values


class CNN(nn.Module):
    """Genes on a square grid, three conv blocks, global average pooling, a linear classifier.

    Conv(1->c1, k1) -> MaxPool2 -> BN -> ReLU; Conv(c1->c2, k2) -> ...; Conv(c2->c3, k3) -> ...;
    Dropout; global average pooling -> BN -> ReLU; Linear(c3, C). Convolutions keep the size.
    `order[k]` is the gene (canonical index) placed in grid cell k, row by row; cells after the
    last gene are zero padding.
    """

    def __init__(
        self,
        n_genes: int,
        n_classes: int,
        order: np.ndarray | None = None,
        side: int | None = None,
        channels: tuple[int, int, int] = (64, 128, 256),
        kernels: tuple[int, int, int] = (5, 5, 3),
        dropout: float = 0.25,
    ):
        super().__init__()
        self.side = side or grid_side(n_genes)
        if self.side**2 < n_genes:
            raise ValueError(f"a {self.side}x{self.side} grid cannot hold {n_genes} genes")
        order = np.arange(n_genes) if order is None else np.asarray(order)
        if sorted(order.tolist()) != list(range(n_genes)):
            raise ValueError("order must be a permutation of the gene indices")
        self.register_buffer("order", torch.as_tensor(order, dtype=torch.long))
        c1, c2, c3 = channels
        k1, k2, k3 = kernels
        self.conv1, self.pool1 = nn.Conv2d(1, c1, k1, padding="same"), nn.MaxPool2d(2)
        self.bn1, self.relu1 = nn.BatchNorm2d(c1), nn.ReLU()
        self.conv2, self.pool2 = nn.Conv2d(c1, c2, k2, padding="same"), nn.MaxPool2d(2)
        self.bn2, self.relu2 = nn.BatchNorm2d(c2), nn.ReLU()
        self.conv3, self.pool3 = nn.Conv2d(c2, c3, k3, padding="same"), nn.MaxPool2d(2)
        self.bn3, self.relu3 = nn.BatchNorm2d(c3), nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        # The map is side/8 square after three pools. AvgPool2d over all of it: its CUDA backward
        # is deterministic, AdaptiveAvgPool2d's is not (README: Determinism).
        self.gap = nn.AvgPool2d(self.side // 8)
        self.bn4, self.relu4 = nn.BatchNorm1d(c3), nn.ReLU()
        self.out = nn.Linear(c3, n_classes)

    @property
    def n_genes(self) -> int:
        return self.order.numel()

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Gene vectors (samples x genes, canonical order) -> grids (samples x 1 x side x side)."""
        cells = x.new_zeros(x.shape[0], self.side * self.side)
        cells[:, : self.order.numel()] = x[:, self.order]
        return cells.view(-1, 1, self.side, self.side)

    def genes(self, grid: torch.Tensor) -> torch.Tensor:
        """Grid-shaped values (samples x 1 x side x side) -> samples x genes, padding dropped."""
        cells = grid.reshape(grid.shape[0], -1)[:, : self.order.numel()]
        out = torch.empty_like(cells)
        out[:, self.order] = cells
        return out

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        """grid: samples x 1 x side x side -> class logits."""
        h = self.relu1(self.bn1(self.pool1(self.conv1(grid))))
        h = self.relu2(self.bn2(self.pool2(self.conv2(h))))
        h = self.relu3(self.bn3(self.pool3(self.conv3(h))))
        h = self.gap(self.dropout(h)).flatten(1)
        return self.out(self.relu4(self.bn4(h)))


def build(arch: str, n_genes: int, n_classes: int, **kwargs) -> nn.Module:
    """An architecture by name ("mlp" or "cnn") with its hyperparameters."""
    return {"mlp": MLP, "cnn": CNN}[arch](n_genes, n_classes, **kwargs)
