"""The embedding view: where each image lands in a model's penultimate feature space, projected to 2-D, so the
forgotten class's cluster can be seen dissolving. The unlearned model is projected on the original model's
axes (it is the original, changed), so the two maps are comparable point for point; gold, trained apart, gets
axes of its own."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from .inside import RunModels, penultimate

PROJECTIONS = ("PCA", "t-SNE")


def embedding_frame(run: RunModels, projection: str = "PCA", seed: int = 0) -> pd.DataFrame:
    """One row per model and image: model role, set ("forgotten" or "unseen"), class name, x, y."""
    if projection not in PROJECTIONS:
        raise ValueError(f"projection must be one of {', '.join(PROJECTIONS)}; got {projection!r}")
    x = np.concatenate([run.forget.tensors[0].numpy(), run.test.tensors[0].numpy()])
    labels = np.concatenate([run.forget.tensors[1].numpy(), run.test.tensors[1].numpy()])
    sets = np.array(["forgotten"] * len(run.forget) + ["unseen"] * len(run.test))
    import torch

    feats = {role: penultimate(m, torch.as_tensor(x)) for role, m in run.models.items()}
    coords: dict[str, np.ndarray] = {}
    if projection == "PCA":
        base = PCA(n_components=2, random_state=seed).fit(feats["original"])
        for role, f in feats.items():
            coords[role] = (PCA(n_components=2, random_state=seed).fit(f) if role == "gold" else base).transform(f)
    else:
        for role, f in feats.items():
            coords[role] = TSNE(n_components=2, init="pca", random_state=seed,
                                perplexity=min(30.0, max(2.0, (len(f) - 1) / 3))).fit_transform(f)
    frames = [pd.DataFrame({"model": role, "set": sets, "class": [run.classes[int(k)] for k in labels],
                            "x": c[:, 0], "y": c[:, 1]}) for role, c in coords.items()]
    return pd.concat(frames, ignore_index=True)
