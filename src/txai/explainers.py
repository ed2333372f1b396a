"""What each explainer is, described once (PAPER-DIGEST.md section 3).

Like Captum's `multiplies_by_inputs`, a record says what a method needs and does; the backends,
the cost model (`txai.scale`), the config checks and the rules read these properties and never
an explainer's name. A new explainer is a new record: with properties the backends know, every
stage serves it as it serves the original.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Explainer:
    """One method of ranking genes, as the backends compute it.

    - `references`: it compares the input with references (baselines) from a pool;
    - `averages_references`: one estimate averages its K references (DeepLiftShap), instead of
      one estimate per reference;
    - `multiplies_by_inputs`: the gradient is multiplied by the input (minus its reference);
    - `rule`: the backward rule at each ReLU and max-pool: `gradient`, `guided` (the gradient
      clamped at 0 after each ReLU) or `deeplift` (Captum's Rescale and max-pool rules);
    - `path`: the gradient is integrated along the straight path from the reference
      (`explain.ig_steps` Gauss-Legendre points);
    - `absolute`: the attribution is |gradient| unless the sign is asked for (Captum's Saliency);
    - `cam`: the Grad-CAM variant its guided gradient is multiplied by, on the last convolution
      (`grad-cam`, `grad-cam++`); it then needs a convolutional model;
    - `model`: it explains a trained model (False: a ranking computed from the data alone).
    """

    name: str
    references: bool = False
    averages_references: bool = False
    multiplies_by_inputs: bool = False
    rule: str = "gradient"
    path: bool = False
    absolute: bool = False
    cam: str | None = None
    model: bool = True

    @property
    def convolutional(self) -> bool:
        """It runs on convolutional models only (Grad-CAM needs a convolution)."""
        return self.cam is not None

    def passes(self, ig_steps: int) -> int:
        """Forward-backward passes of one estimate per sample and reference, for the cost
        model: the path's points, and Grad-CAM's own pass beside the guided one."""
        return (ig_steps if self.path else 1) * (2 if self.cam else 1)


TABLE: dict[str, Explainer] = {
    record.name: record
    for record in (
        Explainer("Saliency", absolute=True),
        Explainer("InputXGradient", multiplies_by_inputs=True),
        Explainer("GuidedBackprop", rule="guided"),
        Explainer("IntegratedGradients", references=True, multiplies_by_inputs=True, path=True),
        Explainer("DeepLift", references=True, multiplies_by_inputs=True, rule="deeplift"),
        Explainer(
            "DeepLiftShap",
            references=True,
            averages_references=True,
            multiplies_by_inputs=True,
            rule="deeplift",
        ),  # fmt: skip
        Explainer("GuidedGradCam", rule="guided", cam="grad-cam"),
        Explainer("GuidedGradCamPlusPlus", rule="guided", cam="grad-cam++"),
    )
}
