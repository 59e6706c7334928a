"""The lab applies every registered model, moto is the pinned version, and importing skyvault never imports moto."""

from __future__ import annotations

import importlib
import subprocess
import sys
from importlib.metadata import version

import pytest

from skyvault.lab.control import ping
from skyvault.lab.labconfig import LabInfo
from skyvault.lab.models import MODELS

pytestmark = pytest.mark.lab

MOTO_PIN = "5.2.1"  # the models patch moto's internals: an upgrade must be a deliberate change with their tests


def test_moto_is_the_pinned_version() -> None:
    assert version("moto") == MOTO_PIN


def test_every_model_has_apply_and_is_applied_by_the_lab(lab: LabInfo) -> None:
    assert len(set(MODELS)) == len(MODELS), "a model is registered twice"
    for name in MODELS:
        module = importlib.import_module(name)
        assert callable(getattr(module, "apply", None)), f"{name} has no apply()"
    status = ping(lab)
    assert status["models"] == MODELS
    assert status["moto_version"] == MOTO_PIN
    for own in ("ebs_blocks", "images", "iam", "sts_external_id"):
        assert f"skyvault.lab.models.{own}" in MODELS


def test_importing_the_cli_does_not_import_moto() -> None:
    code = "import sys, skyvault.cli.main, skyvault.lab.control; print('moto' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
