"""A throwaway PostgreSQL cluster for the tests: initdb into a temp folder, serve on 127.0.0.1, stop.

Never a mock: the state backend's tests run against the real server that
`.ci/run` installs from the system's packages (Debian's `postgresql`). Where
no server binaries can be found the fixture skips with the reason.

PostgreSQL refuses to run as root, and CI runs as root: then the cluster runs
as the `postgres` system user (created by the Debian package) through
`runuser`, in a folder owned by that user. As any other user it runs as that
user. The superuser has a random password, so the connection URL carries a
secret the way a real one does (and the redaction tests have one to hunt).
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Cluster:
    url: str
    password: str
    port: int
    folder: Path
    run_as: str | None


def find_bin(name: str) -> str | None:
    """A PostgreSQL server binary: on PATH, else under Debian's /usr/lib/postgresql/VERSION/bin (newest)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def why_not() -> str | None:
    """Why no cluster can be started here (None when it can)."""
    if not find_bin("initdb") or not find_bin("pg_ctl"):
        return ("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or under /usr/lib/postgresql; "
                "`.ci/run` installs them with apt-get install postgresql")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' system user to run the server as"
        if not shutil.which("runuser"):
            return "running as root and `runuser` is missing (needed to start the server as 'postgres')"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the psycopg package is not installed (pip install -e '.[test]')"
    return None


def start() -> Cluster:
    initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
    assert initdb and pg_ctl
    run_as = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="implkit-pg-"))
    password = secrets.token_urlsafe(18)
    pwfile = folder / "pw"
    pwfile.write_text(password + "\n")
    if run_as:
        user = pwd.getpwnam(run_as)
        os.chown(folder, user.pw_uid, user.pw_gid)
        os.chown(pwfile, user.pw_uid, user.pw_gid)
    os.chmod(folder, 0o700)
    os.chmod(pwfile, 0o600)

    def run(*argv: str) -> subprocess.CompletedProcess:
        cmd = (["runuser", "-u", run_as, "--"] if run_as else []) + list(argv)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=folder)

    data = folder / "data"
    done = run(initdb, "-D", str(data), "-U", "implkit", "-A", "scram-sha-256", f"--pwfile={pwfile}",
               "-E", "UTF8", "--no-sync", "--locale=C")
    if done.returncode:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {done.stderr.strip()[-500:]}")
    port = _free_port()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off -c max_connections=200"
    done = run(pg_ctl, "-D", str(data), "-l", str(folder / "server.log"), "-o", options, "-w", "-t", "60",
               "start")
    if done.returncode:
        log = (folder / "server.log").read_text(errors="replace")[-800:] if (folder / "server.log").exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"pg_ctl start failed: {done.stderr.strip()[-500:]} {log}")
    url = f"postgresql://implkit:{password}@127.0.0.1:{port}/postgres"
    return Cluster(url=url, password=password, port=port, folder=folder, run_as=run_as)


def stop(cluster: Cluster) -> None:
    pg_ctl = find_bin("pg_ctl")
    cmd = (["runuser", "-u", cluster.run_as, "--"] if cluster.run_as else []) + [
        str(pg_ctl), "-D", str(cluster.folder / "data"), "-m", "immediate", "-w", "stop"]
    subprocess.run(cmd, capture_output=True, timeout=60, cwd=cluster.folder)
    shutil.rmtree(cluster.folder, ignore_errors=True)
