"""``lint --istioctl``: the pinned istioctl's own offline checks, beside lint's.

Two commands run on the documents lint checks, each written to its own file in a temporary
directory (removed afterwards):

- ``istioctl validate -f <dir>``: the webhook's own validation code, offline, one document at a
  time. It names a problem by ``Kind/namespace/name`` only, so a key shared by several documents
  is validated again file by file to say which one it is.
- ``istioctl analyze --use-kube=false --all-namespaces --output json <dir>``: the analyzers, over
  documents that are applied together (a scenario's plan in one layout; for explicit paths, all of
  them). ``--all-namespaces`` because without it only the ``default`` namespace is analyzed.

Facts from istio/istio release-1.31: flags and output of validate in
``istioctl/pkg/validate/validate.go`` (errors as a hashicorp multierror, ``N errors occurred:``
then ``\\t* Kind/ns/name: message`` lines, through cobra's ``Error:``; warnings as ``"<file>" has
warnings:``; exit 1 on any error, ``istioctl/cmd/sysexits.go``); flags of analyze in
``istioctl/pkg/analyze/analyze.go`` (``-o json`` skips the exit-code-from-findings logic, which
only the log format has, so findings are read from the JSON); the JSON fields in
``pkg/config/analysis/diag/message.go`` (``Message.Unstructured``: code, level, origin,
reference ``<file>:<line>``, message, documentationUrl), printed by
``istioctl/pkg/util/formatting/formatter.go`` (``printJSON``).

Levels: an ``Error`` (every validate error, an analyze message at level Error) is a problem and
fails lint; a ``Warning`` is printed on stderr and does not fail it (istiod admits the object);
analyze's ``Info`` messages are dropped.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from egress_e2e.core import proc
from egress_e2e.core.errors import (
    CommandFailed,
    ConfigError,
    EgressE2EError,
    ManifestError,
    clip,
)
from egress_e2e.core.proc import Runner
from egress_e2e.infra import tools, versions
from egress_e2e.rendering import lint
from egress_e2e.rendering.kube_yaml import load_documents
from egress_e2e.scenario.model import Scenario

# One istioctl run over the whole catalog takes seconds; the bound is for a hung one.
TIMEOUT: Final = 300.0
ERROR: Final = "Error"
WARNING: Final = "Warning"


@dataclass(frozen=True)
class Source:
    """One document, named the way lint names it."""

    file: str
    doc: int
    body: Mapping[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body.get("kind") or "?")

    @property
    def name(self) -> str:
        meta = self.body.get("metadata")
        return str(meta.get("name") or "?") if isinstance(meta, Mapping) else "?"

    @property
    def namespace(self) -> str:
        meta = self.body.get("metadata")
        return str(meta.get("namespace") or "") if isinstance(meta, Mapping) else ""

    @property
    def key(self) -> tuple[str, str, str]:
        """How istioctl validate names it: ``Kind/namespace/name`` as the document has them."""
        return (self.kind, self.namespace, self.name)


@dataclass(frozen=True)
class Batch:
    """Documents applied together: what analyze looks at as one configuration."""

    label: str
    docs: tuple[Source, ...]


@dataclass(frozen=True)
class Finding:
    tool: str                  # "istioctl validate" | "istioctl analyze IST0101"
    level: str                 # "Error" | "Warning"
    message: str
    source: Source | None = None
    where: str = ""            # the batch or file, when no one document is named

    def __str__(self) -> str:
        if self.source is None:
            return f"{self.tool}: {self.where}: {self.message}"
        doc = self.source
        return (f"{self.tool}: {doc.file}:{doc.doc}: {doc.kind}/{doc.name}: (document): "
                f"{self.message}")


# ---- argv ----

def validate_argv(istioctl: Path, paths: Sequence[Path]) -> list[str]:
    """``istioctl validate``; ``-f`` takes a file or a directory (walked for .yaml/.yml/.json)."""
    argv = [str(istioctl), "validate"]
    for path in paths:
        argv += ["-f", str(path)]
    return argv


def analyze_argv(istioctl: Path, paths: Sequence[Path]) -> list[str]:
    """``istioctl analyze`` on files only (directories are walked), every namespace, as JSON."""
    return [str(istioctl), "analyze", "--use-kube=false", "--all-namespaces", "--output", "json",
            *(str(path) for path in paths)]


# ---- parsers ----

@dataclass(frozen=True)
class ValidateMessage:
    level: str
    text: str                  # the message without its Kind/ns/name prefix
    key: tuple[str, str, str] | None = None
    file: str = ""             # for a warning: the file istioctl says it is in


_ERRORS_HEADER: Final = re.compile(r"^(?:Error: )?\d+ errors? occurred:\s*$")
_WARNINGS_HEADER: Final = re.compile(r'^"(?P<file>.*)" has warnings: ?(?P<rest>.*)$')
_ITEM: Final = re.compile(r"^\t\* (?P<text>.*)$")
_KEYED: Final = re.compile(r"^(?P<kind>[A-Za-z0-9]+)/(?P<ns>[^/:]*)/(?P<name>[^/:]*): ?"
                           r"(?P<text>.*)$")
_VALID: Final = re.compile(r'^".*" is valid$|^validation succeed$')


def parse_validate(output: str) -> list[ValidateMessage]:
    """Errors and warnings from ``istioctl validate``'s stderr (stdout may be appended)."""
    found: list[ValidateMessage] = []
    level, file = "", ""
    for line in output.splitlines():
        if not line.strip() or _VALID.match(line):
            continue
        if _ERRORS_HEADER.match(line):
            level, file = ERROR, ""
            continue
        header = _WARNINGS_HEADER.match(line)
        if header:
            level, file = WARNING, header["file"]
            if header["rest"].strip():  # a single warning is printed on the same line
                found.append(_keyed(WARNING, header["rest"].strip(), file))
            continue
        item = _ITEM.match(line)
        if item and level:
            found.append(_keyed(level, item["text"], file))
        elif line.startswith("Error: "):
            found.append(_keyed(ERROR, line.removeprefix("Error: "), ""))
            level, file = "", ""
        elif found and line.startswith(("\t", " ")):
            # A message that itself spans lines: keep it on one.
            last = found[-1]
            found[-1] = ValidateMessage(last.level, f"{last.text} {line.strip()}", last.key,
                                        last.file)
    return found


def _keyed(level: str, text: str, file: str) -> ValidateMessage:
    match = _KEYED.match(text)
    if match is None:
        return ValidateMessage(level, text, None, file)
    return ValidateMessage(level, match["text"], (match["kind"], match["ns"], match["name"]), file)


@dataclass(frozen=True)
class AnalyzeMessage:
    code: str
    level: str
    message: str
    origin: str = ""
    reference: str = ""        # "<file>:<line>", or "<file>"

    @property
    def file(self) -> str:
        return re.sub(r":\d+$", "", self.reference)


def parse_analyze(stdout: str) -> list[AnalyzeMessage]:
    """The messages of ``istioctl analyze -o json`` (an array; ``null`` when there are none)."""
    text = stdout.strip()
    start = min((i for i in (text.find("["), text.find("null")) if i >= 0), default=-1)
    try:
        loaded = json.loads(text[start:]) if start >= 0 else None
    except json.JSONDecodeError as exc:
        raise ManifestError(f"istioctl analyze printed no JSON ({exc}): {clip(text)}") from None
    if start < 0:
        raise ManifestError(f"istioctl analyze printed no JSON: {clip(text) or '(nothing)'}")
    if loaded is None:
        return []
    if not isinstance(loaded, list):
        raise ManifestError(f"istioctl analyze: expected a JSON array, got {clip(text)}")
    return [AnalyzeMessage(str(item.get("code", "")), str(item.get("level", "")),
                           str(item.get("message", "")), str(item.get("origin", "")),
                           str(item.get("reference", "")))
            for item in loaded if isinstance(item, Mapping)]


# ---- running ----

def obtain(istio_version: str | None = None, *, retry: tools.RetryPolicy | None = None,
           environ: Mapping[str, str] | None = None) -> Path:
    """The pinned istioctl, as the e2e gets it: $EGRESS_E2E_ISTIOCTL_BIN, else the verified
    download in the cache. Failing that, one ConfigError line."""
    release = versions.load().istio(istio_version)
    try:
        return tools.istioctl_binary(release, retry=retry, environ=environ)
    except EgressE2EError as exc:
        raise ConfigError(f"lint --istioctl: cannot obtain istioctl {release.version} ({exc}); "
                          f"set {tools.ISTIOCTL_BIN_ENV} to an istioctl you have") from None


def catalog_batches(scenarios: Iterable[Scenario], run_id: str = "lint") -> list[Batch]:
    """Every scenario in both layouts, named as ``lint.lint_catalog`` names them."""
    return [Batch(label, tuple(Source(lint.rendered_file(doc, label), doc.index, doc.body)
                               for doc in docs))
            for label, docs in lint.rendered_catalog(scenarios, run_id)]


def path_batch(paths: Sequence[Path]) -> Batch:
    """The documents of files (directories: their *.yaml and *.yml), as one configuration.
    lint's own pass has already reported what does not read or parse; that is skipped here."""
    docs: list[Source] = []
    for file in lint.yaml_files(paths):
        try:
            # Read as lint reads it (kubectl's scalars), so istioctl gets the values lint checked.
            loaded = load_documents(file.read_text())
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        docs.extend(Source(str(file), position, body)
                    for position, body in enumerate(loaded, start=1)
                    if isinstance(body, Mapping))
    return Batch(", ".join(str(path) for path in paths), tuple(docs))


def check(batches: Sequence[Batch], istioctl: Path, *, run: Runner = proc.run) -> list[Finding]:
    """Run validate once over every document and analyze once per batch."""
    with tempfile.TemporaryDirectory(prefix="egress-e2e-istioctl-") as tmp:
        root = Path(tmp)
        files: dict[str, Source] = {}
        dirs: list[tuple[Batch, Path]] = []
        for number, batch in enumerate(batches, start=1):
            folder = root / f"b{number:03d}"
            folder.mkdir()
            for position, doc in enumerate(batch.docs, start=1):
                file = folder / f"d{position:04d}.yaml"
                file.write_text(yaml.safe_dump(dict(doc.body), sort_keys=False))
                files[str(file)] = doc
            dirs.append((batch, folder))
        if not files:
            return []
        findings = _validate(istioctl, root, files, run)
        for batch, folder in dirs:
            if batch.docs:
                findings += _analyze(istioctl, batch, folder, files, run)
        return findings


def _run(argv: list[str], run: Runner, ok: tuple[int, ...]) -> proc.Completed:
    done = run(argv, timeout=TIMEOUT, check=False)
    if done.returncode not in ok:
        raise CommandFailed(argv, done.returncode, done.stdout, done.stderr,
                            "lint --istioctl")
    return done


def _validate(istioctl: Path, root: Path, files: Mapping[str, Source],
              run: Runner) -> list[Finding]:
    done = _run(validate_argv(istioctl, [root]), run, (0, 1))
    messages = parse_validate(done.stderr + "\n" + done.stdout)
    if done.returncode == 1 and not any(m.level == ERROR for m in messages):
        raise CommandFailed(list(done.argv), 1, done.stdout, done.stderr,
                            "lint --istioctl: no error istioctl validate names")
    by_key: dict[tuple[str, str, str], list[tuple[str, Source]]] = {}
    for path, doc in files.items():
        by_key.setdefault(doc.key, []).append((path, doc))
    findings: list[Finding] = []
    ambiguous: set[tuple[str, str, str]] = set()
    for message in messages:
        candidates = by_key.get(message.key, []) if message.key else []
        if message.file in files:
            candidates = [(message.file, files[message.file])]
        if len(candidates) == 1:
            findings.append(Finding("istioctl validate", message.level, message.text,
                                    candidates[0][1]))
        elif candidates and message.key is not None:
            ambiguous.add(message.key)
        else:
            findings.append(Finding("istioctl validate", message.level,
                                    _named(message, files), where=_where(message.text, files)))
    for key in sorted(ambiguous):
        for path, doc in by_key[key]:
            # The same Kind/ns/name in several documents: ask about each file alone.
            again = _run(validate_argv(istioctl, [Path(path)]), run, (0, 1))
            findings += [Finding("istioctl validate", m.level, m.text, doc)
                         for m in parse_validate(again.stderr + "\n" + again.stdout)
                         if m.key == key]
    return findings


def _named(message: ValidateMessage, files: Mapping[str, Source]) -> str:
    text = message.text
    if message.key is not None:
        text = f"{'/'.join(message.key)}: {text}"
    for path, doc in files.items():  # say lint's name for a temporary file istioctl names
        text = text.replace(path, f"{doc.file}:{doc.doc}")
    return text


def _where(text: str, files: Mapping[str, Source]) -> str:
    return next((f"{doc.file}:{doc.doc}" for path, doc in files.items() if path in text),
                "(istioctl)")


# pkg/config/analysis/analyzers/gateway/gateway.go: a Gateway whose selector matches no pod is
# IST0101 ("Referenced selector not found"). Files alone hold no pods: the gateway the install
# made (istio: egressgateway) or a scenario's own gateway Deployment exist only on a cluster, so
# that one message says nothing about the files and is kept as a warning, not an error.
_SELECTOR_NOT_FOUND = "Referenced selector not found"


def _without_cluster(message: AnalyzeMessage) -> AnalyzeMessage:
    if (message.code == "IST0101" and message.origin.startswith("Gateway ")
            and message.message.startswith(_SELECTOR_NOT_FOUND)):
        return dataclasses.replace(message, level=WARNING,
                                   message=f"{message.message} (offline: no pods in the files)")
    return message


def _analyze(istioctl: Path, batch: Batch, folder: Path, files: Mapping[str, Source],
             run: Runner) -> list[Finding]:
    done = _run(analyze_argv(istioctl, [folder]), run, (0,))
    findings = []
    for said in parse_analyze(done.stdout):
        if said.level not in (ERROR, WARNING):
            continue
        message = _without_cluster(said)
        tool = f"istioctl analyze {message.code}"
        doc = files.get(message.file)
        if doc is not None:
            findings.append(Finding(tool, message.level, message.message, doc))
        else:
            where = f"{batch.label}: {message.origin}" if message.origin else batch.label
            findings.append(Finding(tool, message.level, message.message, where=where))
    # Files analyze could not read are reported on stderr, and with -o json not in the exit code.
    for line in done.stderr.splitlines():
        if line.startswith("Error(s) adding files:"):
            findings.append(Finding("istioctl analyze", ERROR, _named(
                ValidateMessage(ERROR, line.strip()), files), where=batch.label))
    return findings


def lint_findings(istioctl: Path, paths: Sequence[Path], scenarios: Iterable[Scenario], *,
                  run: Runner = proc.run) -> int:
    """What ``lint --istioctl`` adds: errors on stdout (one line each), warnings on stderr.
    Returns the number of errors."""
    batches = [path_batch(paths)] if paths else catalog_batches(scenarios)
    errors = 0
    for finding in check(batches, istioctl, run=run):
        if finding.level == ERROR:
            errors += 1
            print(finding)
        else:
            print(f"egress-e2e lint: warning: {finding}", file=sys.stderr)
    return errors
