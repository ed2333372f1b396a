"""The path contract of attribution and aggregate files: built and parsed in one place."""

import pytest

from txai import paths


def test_built_paths_parse_back():
    built = paths.attribution("cnn", "GuidedGradCamPlusPlus", "curve_references_zero", "s01")
    assert (
        built == "results/attributions/cnn/GuidedGradCamPlusPlus/curve_references_zero/s01.parquet"
    )
    assert paths.parse(built) == ("cnn", "GuidedGradCamPlusPlus", "curve_references_zero", "s01")
    mean = paths.aggregate("mlp", "DeepLift", "optimised", "mean")
    assert mean == "results/aggregate/mlp/DeepLift/optimised/mean.parquet"
    found = paths.parse(f"/scratch/run/{mean}")  # anywhere, absolute or relative
    assert (found.arch, found.explainer, found.setting, found.name) == (
        "mlp", "DeepLift", "optimised", "mean"
    )  # fmt: skip


@pytest.mark.parametrize(
    "path",
    [
        "results/attributions/mlp/DeepLift/m01.parquet",  # no setting
        "results/aggregate/mlp/DeepLift/optimised/mean.tsv",
        "results/tables/top_genes_mlp_DeepLift_optimised.tsv",
        "results/attributions/mlp/DeepLift/optimised/extra/m01.parquet",
    ],
)
def test_other_paths_are_refused_with_the_contract(path):
    with pytest.raises(ValueError, match=r"not an attribution or aggregate file; expected"):
        paths.parse(path)
