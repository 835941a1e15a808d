"""Sweeps: a grid of recipes in one file, expanded with systematic names, bounded, printable with --dry-run."""

import pytest
import yaml
from click.testing import CliRunner

from edgekit.cli import cli
from edgekit.errors import RecipeError
from edgekit.recipe import load_recipes, recipes_from_data
from edgekit.recipe_sweep import MAX_SWEEP_VARIANTS

SWEEP = {
    "variants": [{"name": "fp32"}],
    "sweep": [{
        "name": "pc",
        "recipe": {"quantize": {"mode": "int8"}, "train": {"epochs": 1}},
        "grid": {"prune.sparsity": [0.5, 0.75], "cluster.clusters": [8, 16], "formats": [["tflite"], ["tflite", "onnx"]]},
    }],
}


def test_a_grid_expands_to_named_validated_recipes():
    recipes = recipes_from_data(SWEEP)
    assert [r.name for r in recipes] == [
        "fp32",
        "pc_sparsity0.5_clusters8_formatstflite", "pc_sparsity0.5_clusters8_formatstflite-onnx",
        "pc_sparsity0.5_clusters16_formatstflite", "pc_sparsity0.5_clusters16_formatstflite-onnx",
        "pc_sparsity0.75_clusters8_formatstflite", "pc_sparsity0.75_clusters8_formatstflite-onnx",
        "pc_sparsity0.75_clusters16_formatstflite", "pc_sparsity0.75_clusters16_formatstflite-onnx",
    ]
    last = recipes[-1]
    assert last.prune.sparsity == 0.75 and last.cluster.clusters == 16 and last.formats == ("tflite", "onnx")
    assert last.quantize.mode == "int8" and last.train.epochs == 1
    assert SWEEP["sweep"][0]["recipe"] == {"quantize": {"mode": "int8"}, "train": {"epochs": 1}}  # not mutated


@pytest.mark.parametrize("sweep, message", [
    ({"name": "s", "grid": {"prune.sparsity": [1.5]}}, "prune.sparsity must be strictly between 0 and 1; got 1.5"),
    ({"name": "s", "grid": {"prune.sparsity": 0.5}}, "grid prune.sparsity must be a non-empty list of values"),
    ({"name": "s", "grid": {"os.system": [1]}}, "os.system is not a recipe setting"),
    ({"name": "s", "grid": {}}, "grid must map setting names"),
    ({"grid": {"prune.sparsity": [0.5]}}, "a sweep needs a name"),
    ({"name": "s", "grid": {"prune.sparsity": [0.5]}, "extra": 1}, "unknown sweep key"),
    ({"name": "s", "grid": {"prune.sparsity": [0.1] * 20, "cluster.clusters": list(range(2, 22))}},
     f"expand to more than {MAX_SWEEP_VARIANTS} variants (400 so far)"),
])
def test_bad_sweeps_are_refused_with_the_reason(sweep, message):
    with pytest.raises(RecipeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        recipes_from_data({"sweep": [sweep]})


def test_dry_run_prints_the_expanded_variants_without_a_model(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(SWEEP, sort_keys=False))
    result = CliRunner().invoke(cli, ["optimize", "--recipe", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    printed = yaml.safe_load(result.stdout)
    assert [v["name"] for v in printed["variants"]] == [r.name for r in load_recipes(path)]
    assert "9 variant(s): fp32, pc_sparsity0.5_clusters8_formatstflite" in result.stderr
    assert "nothing was run" in result.stderr
    (tmp_path / "again.yaml").write_text(result.stdout)  # the printed file is a recipe file that reproduces the grid
    assert load_recipes(tmp_path / "again.yaml") == load_recipes(path)
    default = CliRunner().invoke(cli, ["optimize", "--dry-run"])
    assert default.exit_code == 0 and "pruned-int8" in default.stdout
