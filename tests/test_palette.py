"""One name and one colour per model on every chart; gold is neutral grey, not alarm red."""

from core import palette
from core.methods import METHODS


def test_every_method_has_its_own_fixed_colour_and_gold_is_grey():
    labels = [m.display_name for m in METHODS.values()]
    colours = [palette.colour(x) for x in labels]
    assert len(set(colours)) == len(colours)  # distinct across the registry
    assert palette.colour(palette.GOLD) == palette.GOLD_COLOUR == "#8c8c8c"
    assert palette.ORIGINAL_COLOUR not in colours and palette.GOLD_COLOUR not in colours
    # the same label gets the same colour whatever else is on the chart
    assert palette.scale(["SSD", palette.GOLD])[1][0] == palette.scale([palette.ORIGINAL, "SSD"])[1][1]


def test_a_models_name_is_the_same_in_every_table_and_chart():
    assert palette.model_label("unlearned", "deepclean") == palette.model_label("baseline", "deepclean") == "DeepClean"
    assert palette.model_label("gold", "ssd") == "retrained (gold)" and palette.model_label("original", "x") == "original"
