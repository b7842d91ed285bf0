"""Model cards say what a model is, what it is for, and under which licence."""

from __future__ import annotations

from sagan_edit import SaGANConfig
from sagan_edit.model_card import render_model_card


def test_an_untrained_model_says_so() -> None:
    card = render_model_card(SaGANConfig("smiling"))
    assert "**This model is untrained:**" in card


def test_a_trained_model_has_no_untrained_note_and_names_its_data_licence() -> None:
    extra = {"training": {"generator steps": 10}, "datasets": ["CelebA-HQ"], "license": "other"}
    card = render_model_card(SaGANConfig("smiling", extra=extra))
    assert "untrained" not in card
    limitations = card.split("## Intended uses and limitations")[1].split("## Licence")[0]
    assert "Not for:" in limitations and "Data skew" in limitations and "frontal" in limitations
    licence = card.split("## Licence")[1].split("## Citation")[0]
    assert "`other`" in licence and "non-commercial research" in licence


def test_weights_not_trained_on_celeba_carry_no_celeba_restriction() -> None:
    extra = {"training": {"steps": 1}, "datasets": ["my-faces"], "license": "mit"}
    licence = render_model_card(SaGANConfig("smiling", extra=extra)).split("## Licence")[1]
    assert "`mit`" in licence and "CelebA" not in licence.split("## Citation")[0]


def test_usage_names_the_alias_of_a_shipped_model_and_a_placeholder_otherwise() -> None:
    shipped = render_model_card(SaGANConfig("smiling", extra={"alias": "smiling"}))
    assert 'SaGAN.from_pretrained("smiling")' in shipped
    assert "`sagan-edit face.jpg --attr smiling`" in shipped and "REPO_OR_FOLDER" not in shipped
    own = render_model_card(SaGANConfig("smiling"))
    assert 'SaGAN.from_pretrained("REPO_OR_FOLDER")' in own
    assert "`sagan-edit face.jpg --weights REPO_OR_FOLDER`" in own and "--attr" not in own
