"""The container images the harness runs itself, as ``versions.toml`` pins them."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from egress_e2e.infra import versions


@dataclass(frozen=True)
class Image:
    """An image pinned by tag and by digest (``<repository>:<tag>@sha256:<hex>``)."""

    repository: str
    tag: str
    digest: str

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}@{self.digest}"

    @classmethod
    def parse(cls, ref: str) -> Image:
        name, _, digest = ref.partition("@")
        repository, _, tag = name.rpartition(":")
        return cls(repository, tag, digest)


@functools.cache
def image(role: str) -> Image:
    """The pinned image for ``role`` (curl, httpbin, nginx, envoy)."""
    return Image.parse(versions.load().image(role))
