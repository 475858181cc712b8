"""Readable parameter names, checked against the layers written out by hand."""

import torch
from torch import nn

from core.layer_names import readable_names


def test_a_small_cnn_reads_as_its_layers():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.BatchNorm2d(4), nn.Conv2d(4, 4, 3), nn.Flatten(),
                          nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    assert readable_names(model) == {
        "0.weight": "conv 1 weights", "0.bias": "conv 1 bias", "2.weight": "batch norm 1 weights",
        "2.bias": "batch norm 1 bias", "3.weight": "conv 2 weights", "3.bias": "conv 2 bias",
        "5.weight": "dense 1 weights", "5.bias": "dense 1 bias", "7.weight": "output layer weights",
        "7.bias": "output layer bias"}


def test_parameters_of_their_own_keep_their_key_in_words():
    class WithToken(nn.Module):
        def __init__(self):
            super().__init__()
            self.class_token = nn.Parameter(torch.zeros(1, 1, 4))
            self.attention = nn.MultiheadAttention(4, 2)
            self.head = nn.Linear(4, 2)

    names = readable_names(WithToken())
    assert names["class_token"] == "class token" and names["attention.in_proj_weight"] == "attention 1 input weights"
    assert names["attention.out_proj.weight"] == "dense 1 weights" and names["head.bias"] == "output layer bias"
