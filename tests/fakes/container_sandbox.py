"""Run the container placement's specs for real, without Docker: inside private mount and
network namespaces (``unshare``), which is what a container is made of.

Usage (the test runs it): ``unshare --mount --net --pid --fork --kill-child -- python
container_sandbox.py <run_dir>`` with ``<run_dir>/specs.json`` written by the test. It:

- makes /etc an overlay and the plan's scratch directory a tmpfs, and writes only there, so
  nothing written here reaches the host (the repository and its venv may live under /tmp, so
  /tmp itself stays as it is);
- unpacks each spec's archive (``containers.archive``: what ``put_archive`` hands the engine)
  at / with its modes and owners, as the engine does before the container starts, and writes
  its ``extra_hosts`` and the httpbin container's name into /etc/hosts (as Docker does);
- gives loopback the addresses the containers would have on the kind network;
- starts nginx and Envoy with the specs' exact argv (the image's binaries replaced by the local
  ones) and python httpbin where go-httpbin would listen;
- probes them with curl and prints one JSON object: each probe's result and the logs.

It is PID 1 of its own PID namespace: when it ends, however it ends, the kernel ends every
process it started.

Exit code 77 means the sandbox could not be built here (no permission): the test skips.
"""

from __future__ import annotations

import io
import json
import shutil
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

from egress_e2e.core import localproc, proc
from egress_e2e.core.errors import CommandFailed, EgressE2EError

CANNOT_SANDBOX = 77
VENV_BIN = Path(sys.executable).parent
LOCAL_BINARIES = {"nginx": "/usr/sbin/nginx", "envoy": str(VENV_BIN / "envoy")}


def _sandbox(scratch: str) -> None:
    try:
        proc.run(["mount", "--make-rprivate", "/"])
        proc.run(["mount", "-t", "tmpfs", "tmpfs", scratch])
        for name in ("upper", "work"):
            Path(scratch, name).mkdir()
        proc.run(["mount", "-t", "overlay", "overlay", "-o",
                  f"lowerdir=/etc,upperdir={scratch}/upper,workdir={scratch}/work", "/etc"])
        proc.run(["ip", "link", "set", "lo", "up"])
    except (CommandFailed, EgressE2EError) as exc:
        print(f"cannot build the sandbox: {exc}", file=sys.stderr)
        sys.exit(CANNOT_SANDBOX)


def _curl(args: list[str], scratch: Path) -> dict[str, Any]:
    dump = scratch / "headers"
    done = proc.run(["curl", "-sS", "--max-time", "10", "-D", str(dump), *args],
                    check=False, timeout=20)
    headers = dump.read_text() if dump.exists() else ""
    return {"exit": done.returncode, "headers": headers, "body": done.stdout,
            "stderr": done.stderr}


def main(run_dir: Path) -> int:
    plan = json.loads((run_dir / "specs.json").read_text())
    # Read every archive and file before the scratch directory is covered by its tmpfs.
    archives = [Path(path).read_bytes() for path in plan["archives"]]
    # The client's own files (CA, client certificate) go to the scratch tmpfs.
    files = {target: Path(source).read_bytes()
             for target, source in plan["client_files"].items()}
    scratch = Path(plan["scratch"])
    _sandbox(str(scratch))

    for data in archives:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            # "tar": modes as archived (keys 0600), owners as archived (root), no absolute
            # paths or links out: what the engine's extraction into a container does.
            tar.extractall("/", filter="tar")
    for target, data in files.items():
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o600 if target.endswith(".key") else 0o644)
    hosts_lines = [f"127.0.0.1 {plan['httpbin_name']}"]
    for spec in plan["specs"]:
        hosts_lines += [f"{ip} {name}" for name, ip in spec["extra_hosts"].items()]
    with Path("/etc/hosts").open("a") as etc_hosts:
        etc_hosts.write("\n".join(hosts_lines) + "\n")
    for address in plan["addresses"]:
        proc.run(["ip", "addr", "add", f"{address}/32", "dev", "lo"])

    logs = scratch / "logs"
    results: dict[str, Any] = {}
    by_role = {spec["role"]: spec for spec in plan["specs"]}

    def argv(role: str) -> list[str]:
        command = list(by_role[role]["command"])
        return [LOCAL_BINARIES[command[0]], *command[1:]]

    with localproc.running("httpbin", [str(VENV_BIN / "waitress-serve"),
                                       f"--listen=127.0.0.1:{plan['httpbin_port']}",
                                       "httpbin:app"],
                           logs / "httpbin.log", port=plan["httpbin_port"]) as _httpbin, \
            localproc.running("nginx", argv("nginx"), logs / "nginx.log", port=443) as nginx, \
            localproc.running("envoy", argv("connect-proxy"), logs / "envoy.log",
                              port=3128) as envoy:
        for name, args in plan["probes"].items():
            results[name] = _curl(args, scratch)
        # The proxy's access log is flushed on a timer: wait for the tunnels to show.
        for _ in range(50):
            if envoy.log_text().count('"CONNECT ') >= plan["expect_connect_lines"]:
                break
            time.sleep(0.1)
        results["nginx_log"] = nginx.log_text()
        results["envoy_log"] = envoy.log_text()
    shutil.rmtree(logs, ignore_errors=True)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
