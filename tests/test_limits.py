"""Request bodies above the limit are refused with 413 before being read whole."""

from collections.abc import Iterator
from typing import Any

from tests.factories import create_project


def test_declared_length_over_limit_is_refused_at_once(client: Any) -> None:
    project = create_project(client)
    response = client.post(
        f"/api/v1/projects/{project['id']}/documents",
        content=b"x" * (3 * 1024 * 1024),
        headers={"Content-Type": "multipart/form-data; boundary=zzz"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "fichier_trop_volumineux"
    assert "taille maximale" in response.json()["error"]["message"]


def test_streamed_body_without_length_is_cut_at_the_limit(client: Any) -> None:
    project = create_project(client)
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        yield b'--zzz\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
        yield b"Content-Type: application/pdf\r\n\r\n%PDF-1.4\n"
        for _ in range(64):
            sent += 64 * 1024
            yield b"x" * (64 * 1024)
        yield b"\r\n--zzz--\r\n"

    response = client.post(
        f"/api/v1/projects/{project['id']}/documents",
        content=body(),
        headers={"Content-Type": "multipart/form-data; boundary=zzz"},
    )
    assert response.status_code == 413
    events = client.get(f"/api/v1/projects/{project['id']}/events").json()
    assert [e["kind"] for e in events] == ["creation"]
