"""Fixtures of the calibration bed: the local fake internet and the Envoy pairs, once per
session (each xdist worker starts only the flows its tests use)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from egress_e2e.fakes import local

from .bed import Bed, running_bed


@pytest.fixture(scope="session")
def calibration_fakes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local.LocalFakes]:
    with local.start(tmp_path_factory.mktemp("calibration-fakes")) as fakes:
        yield fakes


@pytest.fixture(scope="session")
def bed(tmp_path_factory: pytest.TempPathFactory,
        calibration_fakes: local.LocalFakes) -> Iterator[Bed]:
    with running_bed(tmp_path_factory.mktemp("calibration-bed"), calibration_fakes) as started:
        yield started
