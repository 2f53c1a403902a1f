"""Build the compact CRD "schema bundles" that ``egress-e2e lint`` validates Istio and Gateway
API objects against.

A bundle keeps, for every served version of every CustomResourceDefinition in the source files,
the ``openAPIV3Schema`` with each ``description`` removed: only structure, types, enums,
formats, bounds, list types, defaults and the ``x-kubernetes-validations`` CEL rules with their
messages. Its header records where each source file came from (repository, ref, commit, path,
sha256), and ``versions.toml``'s ``[schemas]`` table pins those sha256 values and the bundle's
own, so a regenerated or hand-edited bundle is caught by ``tests/lint/test_bundle_pins.py``.

Usage:

    # Every bundle the harness ships, read with git from the local mirrors:
    python tools/build_schema_bundle.py --mirror /work/.mirror

    # One bundle from files on disk:
    python tools/build_schema_bundle.py --name istio-1.31 --repository istio/istio \
        --ref release-1.31 --out egress_e2e/rendering/schemas/istio-1.31.json crd-all.gen.yaml

With ``--mirror`` the sources are: Istio's ``manifests/charts/base/files/crd-all.gen.yaml`` on
release-1.31 and release-1.30 of istio/istio, and the experimental channel's CRDs
(``config/crd/experimental/``) of kubernetes-sigs/gateway-api at the tag each Istio release's
go.mod pins (1.31: v1.6.0, 1.30: v1.5.1). The script prints each bundle's size and sha256.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
SCHEMAS_DIR = REPO / "egress_e2e" / "rendering" / "schemas"
ISTIO_CRDS = "manifests/charts/base/files/crd-all.gen.yaml"
GATEWAY_API_CRDS = "config/crd/experimental"
# (bundle name, mirror folder, ref, paths or folder): what `--mirror` builds.
MIRROR_BUNDLES = (
    ("istio-1.31", "istio+istio", "istio/istio", "release-1.31", ISTIO_CRDS),
    ("istio-1.30", "istio+istio", "istio/istio", "release-1.30", ISTIO_CRDS),
    ("gateway-api-v1.6.0-experimental", "kubernetes-sigs+gateway-api",
     "kubernetes-sigs/gateway-api", "v1.6.0", GATEWAY_API_CRDS),
    ("gateway-api-v1.5.1-experimental", "kubernetes-sigs+gateway-api",
     "kubernetes-sigs/gateway-api", "v1.5.1", GATEWAY_API_CRDS),
)
# Schema keywords whose value is one schema, or a list / map of schemas, to strip recursively.
_ONE_SCHEMA = ("items", "additionalProperties", "not")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")


class BundleError(Exception):
    """A source that is not what the generator expects: one line, exit 1."""


@dataclass(frozen=True)
class Source:
    repository: str
    ref: str
    commit: str
    path: str
    data: bytes


def strip_schema(node: Any) -> Any:
    """A copy of one OpenAPI schema node without ``description`` (upstream prose)."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "description":
            continue
        if key == "properties" and isinstance(value, dict):
            # Here the keys are field names (Gateway API has a field called "description").
            out[key] = {name: strip_schema(sub) for name, sub in value.items()}
        elif key in _ONE_SCHEMA:
            out[key] = strip_schema(value)
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [strip_schema(sub) for sub in value]
        else:
            out[key] = value
    return out


def kinds_of(source: Source) -> dict[str, dict[str, Any]]:
    """``group/version/Kind`` -> {scope, status, schema} for each served version in one source
    file (status: whether the version has a status subresource)."""
    found: dict[str, dict[str, Any]] = {}
    for doc in yaml.safe_load_all(source.data):
        if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        group, kind, scope = spec["group"], spec["names"]["kind"], spec["scope"]
        for version in spec["versions"]:
            if not version.get("served", False):
                continue
            schema = version.get("schema", {}).get("openAPIV3Schema")
            if schema is None:
                raise BundleError(f"{source.path}: {kind} {version['name']} has no schema")
            # With a status subresource the API server resets status on create, so lint
            # ignores it there.
            has_status = "status" in (version.get("subresources") or {})
            found[f"{group}/{version['name']}/{kind}"] = {
                "scope": scope, "status": has_status, "schema": strip_schema(schema)}
    return found


def build(name: str, sources: list[Source]) -> bytes:
    """The bundle: a header, ``kinds`` (``group/version/Kind`` -> scope, whether it has a status
    subresource, and schema number) and
    ``schemas``, each distinct schema once (Istio serves v1, v1beta1 and v1alpha3 of most kinds
    with one schema)."""
    kinds: dict[str, dict[str, Any]] = {}
    for source in sources:
        kinds.update(kinds_of(source))
    if not kinds:
        raise BundleError(f"{name}: no CustomResourceDefinition in the sources")
    header = [{"repository": s.repository, "ref": s.ref, "commit": s.commit, "path": s.path,
               "sha256": hashlib.sha256(s.data).hexdigest()} for s in sources]
    schemas: list[str] = []
    numbers: dict[str, int] = {}
    index: dict[str, dict[str, Any]] = {}
    for key, value in sorted(kinds.items()):
        text = json.dumps(value["schema"], separators=(",", ":"))
        number = numbers.setdefault(text, len(schemas))
        if number == len(schemas):
            schemas.append(text)
        index[key] = {"scope": value["scope"], "status": value["status"], "schema": number}
    # One line per kind and per schema keeps diffs between two regenerations readable.
    lines = [f'{{"bundle": {json.dumps(name)},', f' "sources": {json.dumps(header)},',
             ' "kinds": {',
             ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in index.items()),
             ' },', ' "schemas": [', ",\n".join(f"  {text}" for text in schemas), "]}"]
    return ("\n".join(lines) + "\n").encode()


def _git(git_dir: Path, *args: str) -> bytes:
    done = subprocess.run(["git", "-C", str(git_dir), *args], capture_output=True, check=False)
    if done.returncode != 0:
        raise BundleError(f"git {' '.join(args)} in {git_dir}: {done.stderr.decode().strip()}")
    return done.stdout


def mirror_sources(git_dir: Path, repository: str, ref: str, where: str,
                   commit: str = "") -> list[Source]:
    """The CRD files at ``where`` (a file, or a folder of Gateway API CRDs) of ``ref``, read at
    ``commit`` when given (a branch moves; the pinned commit does not)."""
    commit = commit or _git(git_dir, "rev-parse", f"{ref}^{{commit}}").decode().strip()
    if where.endswith(".yaml"):
        paths = [where]
    else:
        listed = _git(git_dir, "ls-tree", "--name-only", f"{commit}:{where}").decode().split()
        # Only the CRD files: the folder also holds a kustomization and a ValidatingAdmission-
        # Policy, which are not schemas.
        paths = [f"{where}/{name}" for name in sorted(listed)
                 if name.startswith("gateway.networking.") and "_vap_" not in name]
    return [Source(repository, ref, commit, path, _git(git_dir, "show", f"{commit}:{path}"))
            for path in paths]


def write(out: Path, data: bytes) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    print(f"{out}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--mirror", type=Path,
                        help="folder of git mirrors (<owner>+<name>/repo): build every bundle")
    parser.add_argument("--name", help="bundle name (with files)")
    parser.add_argument("--repository", default="", help="owner/name the files come from")
    parser.add_argument("--ref", default="", help="branch or tag the files come from")
    parser.add_argument("--commit", default="", help="commit the files come from")
    parser.add_argument("--out", type=Path, help="bundle to write (with files)")
    parser.add_argument("files", nargs="*", type=Path, help="CRD YAML files")
    args = parser.parse_args(argv)
    try:
        if args.mirror is not None:
            for name, folder, repository, ref, where in MIRROR_BUNDLES:
                sources = mirror_sources(args.mirror / folder / "repo", repository, ref, where)
                write(SCHEMAS_DIR / f"{name}.json", build(name, sources))
            return 0
        if not (args.files and args.name and args.out):
            raise BundleError("give --mirror, or --name, --out and CRD files")
        sources = []
        for file in args.files:
            try:
                sources.append(Source(args.repository, args.ref, args.commit, file.name,
                                      file.read_bytes()))
            except OSError as exc:
                raise BundleError(f"cannot read {file}: {exc}") from exc
        write(args.out, build(args.name, sources))
    except (BundleError, yaml.YAMLError, KeyError) as exc:
        print(f"build_schema_bundle: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
