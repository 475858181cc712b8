"""scikit-learn's digits (1,797 8×8 grey images), embedded so the product works offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import Dataset, Recipe, from_arrays, stratified_split

# A short schedule that reaches ≥ 97% test accuracy with cnn_small (see README, "Shipped checkpoint").
RECIPE = Recipe(epochs=20, milestones=(10, 15), lr_decay=0.1, finetune_epochs=2)
TEST_FRACTION = 0.25
SPLIT_SEED = 0
DESCRIPTION = "scikit-learn digits: 1,797 8×8 grey images, 10 classes (embedded, offline)"


def load(root: Path | None = None, download: bool = False) -> Dataset:
    """The digits, pixel values 0..16 rescaled to 0..255, split 75/25 stratified with a fixed seed."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = stratified_split(x, y, TEST_FRACTION, SPLIT_SEED)
    return from_arrays("digits", x_tr, y_tr, x_te, y_te, [str(c) for c in range(10)], RECIPE, "sklearn")
