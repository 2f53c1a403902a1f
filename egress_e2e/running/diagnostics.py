"""The bundle a failed scenario leaves behind, with every secret taken out.

Three parts, so the cluster layer stays thin:
- ``gather_items`` says, as pure data, which kubectl / istioctl / pilot-agent / docker argv
  produce each file (pods, events, Istio config, current and previous logs, config_dump and
  clusters from each proxy, proxy-config summaries, ``istioctl analyze``, the fakes' logs);
- ``gather`` runs them (through ``egress_e2e.core.proc`` by default) and never stops at a failure:
  a missing previous log is itself worth reading;
- ``write_bundle`` redacts and writes ``<artifacts>/<run-id>/<test-id>/``.
``attach`` puts the bundle path in the report (user property for JUnit, and a report section).
When to gather is the runner's decision (``running.runner.ScenarioRun.run``): on a failure,
before anything is cleaned up.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from egress_e2e.core import proc
from egress_e2e.core.errors import CommandFailed, ConfigError, format_command
from egress_e2e.core.redact import REDACTED
from egress_e2e.core.timeouts import DEFAULTS
from egress_e2e.infra.istio import PROXY_CONTAINER
from egress_e2e.report import record

# Istio config kinds worth seeing in a failed scenario's namespaces (never Secrets).
ISTIO_KINDS = (
    "serviceentries.networking.istio.io", "virtualservices.networking.istio.io",
    "destinationrules.networking.istio.io", "gateways.networking.istio.io",
    "sidecars.networking.istio.io", "envoyfilters.networking.istio.io",
    "authorizationpolicies.security.istio.io", "peerauthentications.security.istio.io",
)
PROXY_CONFIG_KINDS = ("listeners", "clusters", "routes", "endpoints")
# Gateway API kinds for the scenarios that use them: ``-o yaml`` keeps each object's status
# (the Gateway's and listeners' conditions, each route's parents), which is the finding when a
# route attached to nothing.
GATEWAY_API_KINDS = (
    "gateways.gateway.networking.k8s.io", "httproutes.gateway.networking.k8s.io",
    "tlsroutes.gateway.networking.k8s.io", "referencegrants.gateway.networking.k8s.io",
)
# The installed CRDs' bundle version and channel (what istiod's minimum versions are read from).
GATEWAY_API_CRD_COLUMNS = (
    "NAME:.metadata.name,"
    r"VERSION:.metadata.annotations.gateway\.networking\.k8s\.io/bundle-version,"
    r"CHANNEL:.metadata.annotations.gateway\.networking\.k8s\.io/channel"
)


# --- what to gather --------------------------------------------------------------------------

@dataclass(frozen=True)
class Workload:
    """A pod to collect from. ``app_container`` None: a gateway (only istio-proxy)."""

    role: str                      # "client", "gateway", ... used in file names
    namespace: str
    pod: str
    app_container: str | None = None
    has_proxy: bool = True


@dataclass(frozen=True)
class DiagnosticsTarget:
    namespaces: tuple[str, ...]
    workloads: tuple[Workload, ...]
    kubeconfig: str | None = None
    context: str | None = None
    kubectl: str = "kubectl"
    istioctl: str | None = "istioctl"     # None: skip istioctl items
    fake_containers: tuple[str, ...] = ()  # docker containers of the fake internet
    docker: str = "docker"
    # The scenario applies Gateway API objects: add them (with status) and the CRDs' versions.
    gateway_api: bool = False


@dataclass(frozen=True)
class GatherItem:
    file: str                 # path inside the bundle
    argv: tuple[str, ...]


def gather_items(target: DiagnosticsTarget) -> list[GatherItem]:
    """Every command the bundle needs, in the order a person would read the results."""
    kubectl = _kubectl(target)
    items: list[GatherItem] = []
    for ns in target.namespaces:
        base = f"namespaces/{ns}"
        items += [
            GatherItem(f"{base}/pods.txt", (*kubectl, "get", "pods", "-n", ns, "-o", "wide")),
            GatherItem(f"{base}/pods.yaml", (*kubectl, "get", "pods", "-n", ns, "-o", "yaml")),
            GatherItem(f"{base}/events.txt", (*kubectl, "get", "events", "-n", ns,
                                              "--sort-by=.lastTimestamp")),
            GatherItem(f"{base}/istio-config.yaml", (*kubectl, "get", ",".join(ISTIO_KINDS),
                                                     "-n", ns, "-o", "yaml")),
        ]
        if target.gateway_api:
            items.append(GatherItem(f"{base}/gateway-api.yaml",
                                    (*kubectl, "get", ",".join(GATEWAY_API_KINDS), "-n", ns,
                                     "-o", "yaml")))
        if target.istioctl:
            items.append(GatherItem(f"{base}/istioctl-analyze.txt",
                                    (*_istioctl(target), "analyze", "-n", ns)))
    if target.gateway_api:
        items.append(GatherItem("cluster/gateway-api-crds.txt",
                                (*kubectl, "get", "crd", "-o",
                                 f"custom-columns={GATEWAY_API_CRD_COLUMNS}")))
    for workload in target.workloads:
        items += _workload_items(target, workload)
    for container in target.fake_containers:
        items.append(GatherItem(f"fakes/{container}.log",
                                (target.docker, "logs", "--timestamps", container)))
    return items


def _workload_items(target: DiagnosticsTarget, workload: Workload) -> list[GatherItem]:
    kubectl = _kubectl(target)
    ns, pod = workload.namespace, workload.pod
    base = f"pods/{workload.role}-{ns}-{pod}"
    containers = [c for c in (workload.app_container,
                              PROXY_CONTAINER if workload.has_proxy else None) if c]
    items = []
    for container in containers:
        logs = (*kubectl, "logs", "-n", ns, pod, "-c", container, "--timestamps")
        items.append(GatherItem(f"{base}/{container}.log", logs))
        items.append(GatherItem(f"{base}/{container}.previous.log", (*logs, "--previous")))
    if workload.has_proxy:
        exec_agent = (*kubectl, "exec", "-n", ns, pod, "-c", PROXY_CONTAINER, "--",
                      "pilot-agent", "request", "GET")
        items.append(GatherItem(f"{base}/config_dump.json", (*exec_agent, "config_dump")))
        items.append(GatherItem(f"{base}/clusters.txt", (*exec_agent, "clusters")))
        if target.istioctl:
            for kind in PROXY_CONFIG_KINDS:
                items.append(GatherItem(f"{base}/proxy-config-{kind}.txt",
                                        (*_istioctl(target), "proxy-config", kind,
                                         f"{pod}.{ns}")))
    return items


def _kubectl(target: DiagnosticsTarget) -> tuple[str, ...]:
    argv = [target.kubectl]
    if target.kubeconfig:
        argv += ["--kubeconfig", target.kubeconfig]
    if target.context:
        argv += ["--context", target.context]
    return tuple(argv)


def _istioctl(target: DiagnosticsTarget) -> tuple[str, ...]:
    argv = [target.istioctl or "istioctl"]
    if target.kubeconfig:
        argv += ["--kubeconfig", target.kubeconfig]
    if target.context:
        argv += ["--context", target.context]
    return tuple(argv)




def gather(items: Sequence[GatherItem], *, run: proc.Runner = proc.run,
           timeout: float = DEFAULTS.collect) -> dict[str, str]:
    """Run each item's argv; a file's text is the command's output, plus its stderr and exit
    code when it failed. Nothing here raises for a failing command."""
    files: dict[str, str] = {}
    for item in items:
        try:
            done = run(item.argv, timeout=timeout, check=False)
        except CommandFailed as exc:  # timed out
            files[item.file] = f"{exc.stdout}\n--- {exc} ---\n"
            continue
        except ConfigError as exc:  # tool missing
            files[item.file] = f"--- {exc} ---\n"
            continue
        text = done.stdout
        if done.returncode != 0:
            text += f"\n--- exit {done.returncode}: {format_command(item.argv)} ---\n{done.stderr}"
        files[item.file] = text
    return files


def index_text(items: Sequence[GatherItem]) -> str:
    """Which command produced which file (the bundle's index)."""
    return "".join(f"{item.file}\n  $ {format_command(item.argv)}\n" for item in items)


# --- redaction -------------------------------------------------------------------------------

_PRIVATE_KEY = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", re.DOTALL)
# The same inside a URL-encoded value (an XFCC-like header or a query string).
_PRIVATE_KEY_URL = re.compile(
    r"-----BEGIN%20([A-Z0-9%]*?)PRIVATE%20KEY-----.*?-----END%20\1PRIVATE%20KEY-----",
    re.DOTALL)
_BEARER = re.compile(r"(?i)\b(bearer)(\s+|%20)[A-Za-z0-9\-._~+/]+=*")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
# kubeconfig credentials, should one be printed.
_KUBECONFIG_CREDENTIAL = re.compile(
    r"(?im)^(\s*(?:token|client-key-data|password)\s*:\s*)\S.*$")
_SECRET_KIND = re.compile(r"""(?m)^\s*(?:-\s+)?kind:\s*["']?Secret["']?\s*$""")
_DATA_KEY = re.compile(r"^(?P<indent>\s*(?:-\s+)?)(?P<key>data|stringData):\s*(?P<rest>.*)$")
# Shorter decoded values are not scrubbed from free text: they would erase ordinary words.
_MIN_SCRUB = 6


def redact_all(files: Mapping[str, str]) -> dict[str, str]:
    """Redact every file, and scrub every Secret value found in any file from all of them
    (a value also shows up in last-applied annotations, logs, echoed bodies)."""
    passes = {name: _structural(text) for name, text in files.items()}
    values: set[str] = set()
    for _, found in passes.values():
        values |= found
    return {name: redact(text, values) for name, (text, _) in passes.items()}


def redact(text: str, secret_values: Iterable[str] = ()) -> str:
    """One text with Secret data, private keys, bearer tokens and the given values removed."""
    text, found = _structural(text)
    for value in sorted({*secret_values, *found}, key=len, reverse=True):
        if len(value) >= _MIN_SCRUB:
            text = text.replace(value, REDACTED)
    text = _PRIVATE_KEY.sub(f"-----{REDACTED} PRIVATE KEY-----", text)
    text = _PRIVATE_KEY_URL.sub(f"-----{REDACTED}%20PRIVATE%20KEY-----", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    return _KUBECONFIG_CREDENTIAL.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


def _structural(text: str) -> tuple[str, set[str]]:
    """Redact Secret data in JSON or YAML text; return the text and the values removed."""
    stripped = text.lstrip()
    values: set[str] = set()
    if stripped.startswith(("{", "[")) and "Secret" in text:
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
        if data is not None:
            cleaned = _walk(data, values)
            return (json.dumps(cleaned, indent=2) + "\n" if values else text), values
    if _SECRET_KIND.search(text):
        return _yaml_lines(text, values), values
    return text, values


def _walk(node: Any, values: set[str]) -> Any:
    if isinstance(node, dict):
        is_secret = node.get("kind") == "Secret"
        out: dict[str, Any] = {}
        for key, value in node.items():
            if is_secret and key in ("data", "stringData") and isinstance(value, dict):
                for item in value.values():
                    _remember(str(item), values, encoded=key == "data")
                out[key] = {name: REDACTED for name in value}
            else:
                out[key] = _walk(value, values)
        return out
    if isinstance(node, list):
        return [_walk(item, values) for item in node]
    if isinstance(node, str) and node.lstrip().startswith("{") and "Secret" in node:
        # kubectl's last-applied-configuration annotation holds the whole object as JSON.
        try:
            inner = json.loads(node)
        except json.JSONDecodeError:
            return node
        return json.dumps(_walk(inner, values))
    return node


def _yaml_lines(text: str, values: set[str]) -> str:
    """Blank the entries under ``data:``/``stringData:`` in every YAML document that is (or
    holds) a Secret. Line-based, so it works on any kubectl output and keeps the layout."""
    out: list[str] = []
    for document in re.split(r"(?m)^(?=---\s*$)", text):
        if not _SECRET_KIND.search(document):
            out.append(document)
            continue
        out.append(_blank_data_blocks(document, values))
    return "".join(out)


def _blank_data_blocks(document: str, values: set[str]) -> str:
    lines = document.splitlines(keepends=True)
    result: list[str] = []
    block_indent: int | None = None
    encoded = False
    for line in lines:
        body = line.rstrip("\n")
        indent = len(body) - len(body.lstrip(" -"))
        if block_indent is not None:
            if body.strip() and indent > block_indent:
                key, sep, value = body.strip().partition(":")
                if sep and value.strip():
                    _remember(_yaml_scalar(value.strip()), values, encoded=encoded)
                    result.append(f"{' ' * indent}{key}: {REDACTED}\n")
                elif body.strip():
                    # A continuation line of a block scalar (stringData: |).
                    _remember(body.strip(), values, encoded=False)
                continue
            if body.strip():
                block_indent = None
        match = _DATA_KEY.match(body)
        if match:
            block_indent = len(match["indent"])
            encoded = match["key"] == "data"
            rest = match["rest"].strip()
            if rest and rest not in ("{}", "|", ">"):
                # Flow style: data: {a: b}
                result.append(f"{match['indent']}{match['key']}: {REDACTED}\n")
                _remember(rest, values, encoded=False)
                block_indent = None
                continue
        result.append(line)
    return "".join(result)


def _yaml_scalar(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _remember(value: str, values: set[str], *, encoded: bool) -> None:
    """Keep a Secret value (and, for ``data``, its decoded text and lines) to scrub elsewhere."""
    values.add(value)
    if not encoded:
        values.update(line.strip() for line in value.splitlines() if line.strip())
        return
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return
    values.add(decoded)
    values.update(line.strip() for line in decoded.splitlines() if line.strip())


# --- the bundle on disk ----------------------------------------------------------------------

def bundle_dir(artifacts: Path, run_id: str, test_id: str) -> Path:
    return artifacts / _safe(run_id) / _safe(test_id)


def write_bundle(artifacts: Path, run_id: str, test_id: str, files: Mapping[str, str],
                 items: Sequence[GatherItem] = ()) -> Path:
    """Write ``files`` (bundle path -> text), redacted, under ``<artifacts>/<run-id>/<test-id>/``
    with an ``index.txt`` naming each file and the command that produced it."""
    root = bundle_dir(artifacts, run_id, test_id)
    cleaned = redact_all(files)
    for name, text in cleaned.items():
        target = (root / name).resolve()
        if root.resolve() not in target.parents:
            raise ValueError(f"bundle file escapes the bundle: {name!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    listing = "".join(f"{name}\n" for name in sorted(cleaned))
    (root / "index.txt").write_text(
        f"diagnostics for {test_id} (run {run_id})\n\nfiles:\n{listing}\n"
        f"commands:\n{index_text(items)}", encoding="utf-8")
    return root


def _safe(part: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", part).strip("._")
    return cleaned[:150] or "unnamed"


# --- the report ------------------------------------------------------------------------------

# The JUnit property naming the bundle: the same one the report reads.
BUNDLE_PROPERTY = record.DIAGNOSTICS


class ReportItem(record.HasUserProperties, Protocol):
    """The test a bundle belongs to: a pytest item (the runner's tests use a stand-in)."""

    nodeid: str

    def add_report_section(self, when: str, key: str, content: str) -> None: ...


def attach(item: ReportItem, bundle: Path) -> None:
    """Name the bundle in the report: a JUnit property and a section of the failing call's
    report, which the terminal shows under the failure."""
    record.diagnostics(item, bundle)
    item.add_report_section("call", "diagnostics", f"diagnostics bundle: {bundle}\n")
