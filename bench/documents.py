"""Benchmark: a 500 MB document uploaded through the served app, against `cp` of the same file.

Starts `labelflow serve` (a subprocess, its job worker off) on a throwaway SQLite database and
data folder, then, `--rounds` times, alternately: copies the file with `cp` followed by `sync`
of the copy (the floor: one read, one write, made durable), and uploads it with one HTTP
request (multipart, as the API and the pages take it; the client sends the file with
`sendfile`, so that it costs next to nothing). Every round changes a few bytes of the file, so
that each upload is a new content. Prints each time, the throughput ratio upload / cp (goal of
issue 10: ≥ 0.5) and the server's peak memory growth (its peak resident size over the rounds,
VmHWM, against its resident size before them; goal: < 50 MB); exits 1 when a goal is missed.

Usage: .venv/bin/python bench/documents.py [--megabytes 500] [--rounds 3] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from labelflow import accounts, consequences, migrate
from labelflow.actors import SYSTEM
from labelflow.db import make_engine, transaction
from labelflow.schemas import UserCreate
from labelflow.settings import PROJECT_ROOT

MIB = 1024 * 1024
RATIO_GOAL = 0.5
MEMORY_GOAL_MB = 50.0
LABELFLOW = str(Path(sys.executable).with_name("labelflow"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_pdf(path: Path, size: int) -> None:
    """A file the content checks take for a PDF: its header, incompressible bytes, its end."""
    head, tail = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", b"\ntrailer\n<< >>\n%%EOF\n"
    block = os.urandom(MIB)
    with path.open("wb") as out:
        out.write(head)
        left = size - len(head) - len(tail)
        while left > 0:
            out.write(block[: min(MIB, left)])
            left -= MIB
        out.write(tail)


def mark(path: Path, round_no: int) -> None:
    """A different content each round (the store keeps one file per content)."""
    with path.open("r+b") as f:
        f.seek(20)
        f.write(f"{round_no:08d}".encode())


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak(pid: int) -> None:
    """Start VmHWM again from the current resident size (Linux: `5` into clear_refs); where
    that is refused, the peak since start-up stays, and the growth is overstated, not hidden."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        print("(VmHWM non remis à zéro : la croissance mesurée inclut le démarrage)")


def cp_seconds(source: Path, target: Path) -> float:
    target.unlink(missing_ok=True)
    start = time.perf_counter()
    subprocess.run(["cp", str(source), str(target)], check=True)
    subprocess.run(["sync", str(target)], check=True)
    elapsed = time.perf_counter() - start
    target.unlink()
    return elapsed


def upload_seconds(port: int, token: str, project_id: int, source: Path) -> float:
    boundary = uuid.uuid4().hex
    preamble = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="type"\r\n\r\nautre\r\n'
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="gros-dossier.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    closing = f"\r\n--{boundary}--\r\n".encode()
    size = source.stat().st_size
    head = (
        f"POST /api/v1/projects/{project_id}/documents HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(preamble) + size + len(closing)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as conn, source.open("rb") as f:
        conn.sendall(head + preamble)
        conn.sendfile(f)
        conn.sendall(closing)
        response = b""
        while chunk := conn.recv(65536):
            response += chunk
    elapsed = time.perf_counter() - start
    status = response.split(b" ", 2)[1]
    if status != b"201":
        raise SystemExit(f"Le dépôt a échoué : {response[:600].decode(errors='replace')}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--megabytes", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--dir", type=Path, default=None, help="working folder (default: a temporary one)"
    )
    args = parser.parse_args(argv)
    size = args.megabytes * MIB
    with tempfile.TemporaryDirectory(prefix="bench-documents-", dir=args.dir) as tmp:
        work = Path(tmp)
        data = work / "data"
        data.mkdir()
        url = f"sqlite:///{data / 'labelflow.db'}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        consequences.install()
        with transaction(engine) as session:
            staff = accounts.create_user(
                session,
                data=UserCreate(
                    email="bench@example.org", name="Banc d'essai", role="staff", is_admin=True
                ),
                actor=SYSTEM,
            )
            token, _ = accounts.create_token(session, user=staff, name="bench")
        engine.dispose()
        source = work / "gros-dossier.pdf"
        make_pdf(source, size)
        port = free_port()
        env = {
            **os.environ,
            "LABELFLOW_DATA_DIR": str(data),
            "LABELFLOW_DATABASE_URL": url,
            "LABELFLOW_ENVIRONMENT": "test",
            "LABELFLOW_WORKER": "false",
            "LABELFLOW_MAX_UPLOAD_BYTES": str(size + MIB),
            # The request's spooled body, if any, on the same disk as the rest.
            "TMPDIR": str(work),
        }
        with (work / "serve.log").open("wb") as log:
            server = subprocess.Popen(
                [LABELFLOW, "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                cwd=PROJECT_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit((work / "serve.log").read_text(errors="replace"))
                time.sleep(0.1)
            auth = {"Authorization": f"Bearer {token}"}
            created = httpx.post(
                base + "/api/v1/projects",
                headers=auth,
                json={
                    "name": "Régie du banc d'essai",
                    "kind": "quartier",
                    "communes": [{"insee": "59512", "name": "Roubaix"}],
                    "region": "Hauts-de-France",
                    "departement": "Nord",
                    "initiator": "habitants",
                },
                timeout=30,
            )
            if created.status_code != 201:
                raise SystemExit(created.text)
            project_id = created.json()["id"]
            # A small upload first, so that the memory baseline is that of a warm server.
            small = work / "petit.pdf"
            make_pdf(small, MIB)
            upload_seconds(port, token, project_id, small)
            baseline_kb = status_kb(server.pid, "VmRSS")
            reset_peak(server.pid)
            load = os.getloadavg()[0]
            print(
                f"Fichier de {args.megabytes} Mo, {args.rounds} tours, "
                f"charge de la machine {load:.1f} ({os.cpu_count()} cœurs)"
            )
            cps, uploads = [], []
            for round_no in range(args.rounds):
                mark(source, round_no)
                cps.append(cp_seconds(source, work / "copie.pdf"))
                uploads.append(upload_seconds(port, token, project_id, source))
                print(
                    f"  tour {round_no + 1} : cp + sync {cps[-1]:.2f} s "
                    f"({args.megabytes / cps[-1]:.0f} Mo/s), "
                    f"dépôt {uploads[-1]:.2f} s ({args.megabytes / uploads[-1]:.0f} Mo/s), "
                    f"rapport {cps[-1] / uploads[-1]:.2f}"
                )
            peak_kb = status_kb(server.pid, "VmHWM")
        finally:
            server.terminate()
            server.wait(timeout=30)
    ratios = [c / u for c, u in zip(cps, uploads, strict=True)]
    ratio = statistics.median(ratios)
    growth_mb = (peak_kb - baseline_kb) / 1024
    ratio_ok = ratio >= RATIO_GOAL
    memory_ok = growth_mb < MEMORY_GOAL_MB
    print(
        f"Débit du dépôt / débit de cp (médiane) : {ratio:.2f} "
        f"— objectif ≥ {RATIO_GOAL} : {'atteint' if ratio_ok else 'NON atteint'}"
    )
    print(
        f"Pic de mémoire du serveur : +{growth_mb:.1f} Mo (VmRSS {baseline_kb // 1024} Mo → "
        f"VmHWM {peak_kb // 1024} Mo) — objectif < {MEMORY_GOAL_MB:.0f} Mo : "
        f"{'atteint' if memory_ok else 'NON atteint'}"
    )
    return 0 if ratio_ok and memory_ok else 1


if __name__ == "__main__":
    sys.exit(main())
