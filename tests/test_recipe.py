import pytest

from edgekit.recipe import (
    Cluster,
    Prune,
    Quantize,
    Recipe,
    RecipeError,
    dump_recipes,
    load_recipes,
    preset,
    recipes_from_data,
)


def test_recipe_round_trips_through_yaml():
    recipe = Recipe(
        "pcqat-int8",
        prune=Prune(0.75, include=("conv2", "Dense")),
        cluster=Cluster(8, init="linear"),
        quantize=Quantize("int8", aware=True),
        formats=("tflite", "onnx"),
    )
    assert Recipe.from_yaml(recipe.to_yaml()) == recipe
    many = (recipe, Recipe("fp32"))
    assert recipes_from_data(__import__("yaml").safe_load(dump_recipes(many))) == many


@pytest.mark.parametrize(
    "data, message",
    [
        ({"name": "x", "prune": {"sparsity": 1.0}}, "strictly between 0 and 1; got 1.0"),
        ({"name": "x", "prune": {"sparsity": 0}}, "strictly between 0 and 1; got 0"),
        ({"name": "x", "cluster": {"clusters": 1}}, "at least 2; got 1"),
        ({"name": "x", "quantize": {"mode": "int4"}}, "quantize.mode must be one of none, dynamic"),
        ({"name": "x", "quantize": {"mode": "float16", "aware": True}}, "set quantize.mode to int8"),
        ({"name": "x", "colour": "red"}, "unknown recipe key(s) colour"),
        ({"name": "x", "prune": {"sparsity": 0.5, "speed": 2}}, "unknown prune key(s) speed"),
        ({"name": "bad name!"}, "recipe name must be"),
        ({"name": "x", "formats": ["tflite", "coreml"]}, "formats must be one of tflite, onnx, edgetpu, mcu; got 'coreml'"),
        ({"name": "x", "formats": ["edgetpu"]}, "edgetpu format needs quantize.mode int8"),
    ],
)
def test_invalid_recipes_are_refused_with_the_value(data, message):
    with pytest.raises(RecipeError) as err:
        Recipe.from_dict(data)
    assert message in str(err.value)


def test_recipe_is_frozen():
    with pytest.raises(Exception):
        Recipe("x").name = "y"


def test_duplicate_names_and_bad_files(tmp_path):
    with pytest.raises(RecipeError, match="repeated: a"):
        recipes_from_data({"variants": [{"name": "a"}, {"name": "a"}]})
    bad = tmp_path / "r.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipes(bad)
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipes(tmp_path / "missing.yaml")


def test_training_and_calibration_needs():
    assert Recipe("p", prune=Prune()).needs_training
    assert not Recipe("i", quantize=Quantize("int8")).needs_training
    assert Recipe("i", quantize=Quantize("int8")).needs_calibration
    assert not Recipe("q", quantize=Quantize("int8", aware=True)).needs_calibration


def test_unknown_preset_lists_the_available_ones():
    with pytest.raises(RecipeError, match="unknown preset 'nope'; available:"):
        preset("nope")
