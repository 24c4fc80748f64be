"""Documents (pièces): upload, storage by hash, download, limits, review."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from labelflow.french import typeset
from tests import corpus
from tests.factories import PDF, create_project, decide, events, fire, snapshot, upload, walk_to

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
DOCX = corpus.docx()
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64
ZIP = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"archive/secret.bin" + b"\x00" * 32
MIB = 1024 * 1024


def _post(
    client: Any,
    pid: int,
    content: bytes,
    filename: str = "piece.pdf",
    media_type: str = "application/pdf",
    doc_type: str = "autre",
) -> Any:
    return client.post(
        f"/api/v1/projects/{pid}/documents",
        data={"type": doc_type},
        files={"file": (filename, content, media_type)},
    )


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_upload_and_download(client: Any, docs_dir: Path) -> None:
    project = create_project(client)
    pid = project["id"]
    name = "Délibération n°3.pdf"
    document = upload(client, pid, "note_cadrage", content=PDF, filename=name)
    sha = hashlib.sha256(PDF).hexdigest()
    assert document["sha256"] == sha
    assert (document["size"], document["media_type"]) == (len(PDF), "application/pdf")
    assert (document["filename"], document["type"], document["type_label"]) == (
        name,
        "note_cadrage",
        "Note de cadrage",
    )
    assert document["review_status"] == "en_attente"
    # Stored under its hash, never under the user's name.
    stored = docs_dir / sha[:2] / sha
    assert stored.read_bytes() == PDF
    assert _files(docs_dir) == [stored]
    assert not any("lib" in p.name for p in docs_dir.rglob("*"))

    response = client.get(document["download_url"])
    assert response.status_code == 200
    assert response.content == PDF
    assert response.headers["content-type"].startswith("application/pdf")
    disposition = response.headers["content-disposition"]
    assert "attachment" in disposition
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == name

    last = events(client, pid)[-1]
    assert last["kind"] == "document"
    assert (last["data"]["sha256"], last["data"]["filename"]) == (sha, name)
    listed = client.get(f"/api/v1/projects/{pid}/documents").json()
    assert [d["id"] for d in listed] == [document["id"]]


def test_ascii_name_and_path_stripped(client: Any) -> None:
    project = create_project(client)
    document = upload(
        client,
        project["id"],
        "autre",
        content=PNG,
        filename="../../etc/photo.png",
        media_type="image/png",
    )
    assert (document["filename"], document["media_type"]) == ("photo.png", "image/png")
    response = client.get(document["download_url"])
    assert response.content == PNG
    assert 'filename="photo.png"' in response.headers["content-disposition"]


def test_same_content_twice_shares_one_file(client: Any, docs_dir: Path) -> None:
    project = create_project(client)
    first = upload(client, project["id"], "autre", filename="a.pdf")
    second = upload(client, project["id"], "autre", filename="b.pdf")
    assert first["sha256"] == second["sha256"] and first["id"] != second["id"]
    # "autre" keeps every upload side by side.
    assert second["superseded_by_id"] is None
    listed = client.get(f"/api/v1/projects/{project['id']}/documents").json()
    assert [d["superseded_by_id"] for d in listed] == [None, None]
    assert len(_files(docs_dir)) == 1
    assert 'filename="b.pdf"' in client.get(second["download_url"]).headers["content-disposition"]


def test_docx_and_text_are_accepted(client: Any) -> None:
    project = create_project(client)
    docx = upload(
        client,
        project["id"],
        "autre",
        content=DOCX,
        filename="statuts.docx",
        media_type="application/octet-stream",
    )
    assert docx["media_type"].startswith("application/vnd.openxmlformats")
    text = upload(
        client,
        project["id"],
        "autre",
        content="Compte rendu : réunion".encode(),
        filename="cr.txt",
        media_type="text/plain",
    )
    assert text["media_type"] == "text/plain"


def test_too_large_is_413(client: Any, docs_dir: Path) -> None:
    project = create_project(client)
    pid = project["id"]
    before = snapshot(client, pid)
    response = _post(client, pid, PDF + b"0" * MIB)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "fichier_trop_volumineux"
    assert "1 Mo" in response.json()["error"]["message"]
    assert snapshot(client, pid) == before
    assert _files(docs_dir) == []
    # Exactly at the limit is fine (the padding is a PDF comment, before the end marker).
    end = b"%%EOF\n"
    content = PDF[: -len(end)] + b"%" + b"0" * (MIB - len(PDF) - 2) + b"\n" + end
    assert len(content) == MIB
    assert _post(client, pid, content).status_code == 201


@pytest.mark.parametrize(
    ("content", "declared"),
    [
        (EXE, "application/pdf"),
        (EXE, "application/x-msdownload"),
        (ZIP, "application/zip"),
        (b"\x00\x01\x02\x03binary", "application/pdf"),
    ],
)
def test_disallowed_type_is_415(client: Any, docs_dir: Path, content: bytes, declared: str) -> None:
    project = create_project(client)
    pid = project["id"]
    before = snapshot(client, pid)
    response = _post(client, pid, content, filename="note.pdf", media_type=declared)
    assert response.status_code == 415, response.text
    assert response.json()["error"]["code"] == "type_de_fichier_refuse"
    assert "PDF" in response.json()["error"]["message"]
    assert snapshot(client, pid) == before
    assert _files(docs_dir) == []


def test_refused_upload_keeps_an_identical_accepted_file(client: Any, docs_dir: Path) -> None:
    project = create_project(client)
    pid = project["id"]
    upload(client, pid, "autre", content=b"texte")
    response = client.post(
        f"/api/v1/projects/{pid}/documents",
        data={"type": "inconnu"},
        files={"file": ("a.txt", b"texte", "text/plain")},
    )
    assert response.status_code == 422
    assert len(_files(docs_dir)) == 1


def test_empty_file_is_422(client: Any, docs_dir: Path) -> None:
    project = create_project(client)
    pid = project["id"]
    before = snapshot(client, pid)
    response = _post(client, pid, b"")
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == [
        {"field": "file", "message": "Le fichier est vide."}
    ]
    assert snapshot(client, pid) == before
    assert _files(docs_dir) == []


def test_closed_project_refuses_uploads(client: Any, docs_dir: Path) -> None:
    project = create_project(client)
    pid = project["id"]
    fire(client, pid, "abandonner", "Projet arrêté")
    before = snapshot(client, pid)
    response = _post(client, pid, PDF)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "projet_clos"
    assert snapshot(client, pid) == before
    assert _files(docs_dir) == []


def test_review(client: Any) -> None:
    project = create_project(client)
    pid = project["id"]
    document = upload(client, pid, "note_cadrage")
    url = f"/api/v1/documents/{document['id']}/review"
    before = snapshot(client, pid)
    for body in ({"status": "rejected"}, {"status": "rejected", "comment": "   "}):
        response = client.post(url, json=body)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "commentaire_requis"
    response = client.post(url, json={"status": "peut-etre"})
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "status"
    assert snapshot(client, pid) == before

    response = client.post(url, json={"status": "rejected", "comment": "Non signée"})
    assert response.status_code == 200
    reviewed = response.json()
    assert (reviewed["review_status"], reviewed["review_comment"]) == ("rejected", "Non signée")
    assert reviewed["reviewed_by"] and reviewed["reviewed_at"]
    assert response.headers["ETag"] == '"3"'
    response = client.post(url, json={"status": "accepted"})
    assert response.json()["review_status"] == "accepted"
    assert response.json()["review_comment"] is None
    kinds = [(e["kind"], e["data"].get("status")) for e in events(client, pid)]
    assert kinds[-2:] == [("revue", "rejected"), ("revue", "accepted")]


def test_report_lifecycle_through_labellisation(client: Any) -> None:
    project = walk_to(client, create_project(client, kind="territoire"), "decision_bureau")
    pid = project["id"]
    upload(client, pid, "annexe_expertise")
    reports = [
        d
        for d in client.get(f"/api/v1/projects/{pid}/documents").json()
        if d["type"] == "annexe_expertise"
    ]
    assert len(reports) == 1
    decide(client, pid, "attribution")
    fire(client, pid, "attribuer_label")
    # Documents stay downloadable once the project is closed.
    assert client.get(reports[0]["download_url"]).content == PDF


def test_file_without_name_is_422_in_french(client: Any) -> None:
    project = create_project(client)
    response = _post(client, project["id"], PDF, filename="")
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == [
        {"field": "file", "message": "Un fichier (avec son nom) est attendu."}
    ]


# --- Expected documents per step, review and corrections --------------------------------------


def _expected(client: Any, pid: int) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/projects/{pid}")
    assert response.status_code == 200
    return list(response.json()["expected_documents"])


def _review(client: Any, document_id: int, status: str, comment: str | None = None) -> Any:
    body: dict[str, Any] = {"status": status}
    if comment is not None:
        body["comment"] = comment
    return client.post(f"/api/v1/documents/{document_id}/review", json=body)


def test_expected_documents_of_the_step_and_a_correction(client: Any) -> None:
    pid = create_project(client)["id"]
    assert _expected(client, pid) == [
        {
            "type": "note_cadrage",
            "label": "Note de cadrage",
            "description": "Premier état des besoins du quartier et des activités jugées "
            "prioritaires.",
            "multiple": False,
            "needs": "given",
            "status": "attendue",
            "document_ids": [],
            "reason": None,
        }
    ]
    first = upload(client, pid, "note_cadrage", filename="note v1.pdf")
    [entry] = _expected(client, pid)
    assert (entry["status"], entry["document_ids"]) == ("deposee", [first["id"]])

    # A refusal needs a reason and changes nothing without one.
    before = snapshot(client, pid)
    assert _review(client, first["id"], "rejected", " ").status_code == 422
    assert snapshot(client, pid) == before
    assert _review(client, first["id"], "rejected", "Il manque la signature.").status_code == 200
    [entry] = _expected(client, pid)
    assert (entry["status"], entry["reason"]) == ("refusee", "Il manque la signature.")
    project = client.get(f"/api/v1/projects/{pid}").json()
    unmet = next(a for a in project["actions"] if a["action"] == "lancer_faisabilite")["unmet"]
    assert {
        "code": "document_note_cadrage",
        "message": typeset(
            "La pièce « Note de cadrage » a été refusée : une nouvelle version est attendue."
        ),
        "by": "porteur",
    } in unmet

    # The new version supersedes the refused one, which stays downloadable.
    second = upload(client, pid, "note_cadrage", content=PDF.replace(b"1.4", b"1.5"))
    listed = {d["id"]: d for d in client.get(f"/api/v1/projects/{pid}/documents").json()}
    assert listed[first["id"]]["superseded_by_id"] == second["id"]
    assert listed[first["id"]]["review_comment"] == "Il manque la signature."
    assert client.get(first["download_url"]).content == PDF
    [entry] = _expected(client, pid)
    assert (entry["status"], entry["document_ids"], entry["reason"]) == (
        "deposee",
        [second["id"]],
        None,
    )
    # The refused version can no longer be reviewed.
    assert _review(client, first["id"], "accepted").status_code == 409
    assert _review(client, second["id"], "accepted").status_code == 200
    assert _expected(client, pid)[0]["status"] == "acceptee"


def test_expected_documents_follow_the_step(client: Any) -> None:
    project = walk_to(client, create_project(client), "validation")
    types = [e["type"] for e in _expected(client, project["id"])]
    assert types == ["deliberation_collectivite", "engagement_bailleur", "validation_habitants"]
    fire(client, project["id"], "abandonner", "Arrêt")
    assert _expected(client, project["id"]) == []


NEEDS_ACCEPTED_KEY = "essai-pieces-acceptees"


@pytest.fixture
def accepted_client(db: Any, tmp_path: Path, database_url: str, staff_user: Any) -> Any:
    """An app whose one definition expects the note accepted, and two annexes (several)."""
    from fastapi.testclient import TestClient

    from labelflow.settings import PROJECT_ROOT, Settings
    from labelflow.web.app import create_app
    from tests.conftest import empty_database, token_for

    text = (PROJECT_ROOT / "workflows" / "regie-de-quartier.yaml").read_text(encoding="utf-8")
    text = text.replace("key: regie-de-quartier", f"key: {NEEDS_ACCEPTED_KEY}", 1)
    text = text.replace(
        "      - {type: note_cadrage, needs: given}\n",
        "      - {type: note_cadrage, needs: accepted}\n"
        "      - {type: autre, multiple: true, needs: given}\n",
        1,
    )
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "essai.yaml").write_text(text, encoding="utf-8")
    settings = Settings(
        environment="test",
        data_dir=tmp_path / "data",
        database_url=database_url,
        workflows_dir=folder,
        max_upload_bytes=MIB,
    )
    with TestClient(create_app(settings, db=db)) as other:
        other.headers["Authorization"] = f"Bearer {token_for(db, staff_user)}"
        yield other
    empty_database(db, settings)


def test_a_document_needed_accepted_waits_for_the_review(accepted_client: Any) -> None:
    client = accepted_client
    project = create_project(client)
    assert project["workflow_key"] == NEEDS_ACCEPTED_KEY
    pid = project["id"]
    note = upload(client, pid, "note_cadrage")
    [entry, annexes] = _expected(client, pid)
    assert (entry["needs"], entry["status"]) == ("accepted", "deposee")
    codes = {
        u["code"]: u
        for a in client.get(f"/api/v1/projects/{pid}").json()["actions"]
        for u in a["unmet"]
    }
    assert codes["document_note_cadrage"]["message"] == typeset(
        "La pièce « Note de cadrage » attend d'être acceptée par l'équipe nationale."
    )
    assert codes["document_note_cadrage"]["by"] == "equipe"
    assert _review(client, note["id"], "accepted").status_code == 200
    unmet = [
        u["code"]
        for a in client.get(f"/api/v1/projects/{pid}").json()["actions"]
        for u in a["unmet"]
    ]
    assert "document_note_cadrage" not in unmet

    # Several files allowed: each kept; a new one replaces only a refused one.
    assert annexes["multiple"] is True and annexes["status"] == "attendue"
    a1 = upload(client, pid, "autre", content=b"annexe un")
    a2 = upload(client, pid, "autre", content=b"annexe deux")
    assert _expected(client, pid)[1]["document_ids"] == [a1["id"], a2["id"]]
    assert _review(client, a1["id"], "rejected", "Illisible").status_code == 200
    assert (_expected(client, pid)[1]["status"], _expected(client, pid)[1]["reason"]) == (
        "refusee",
        "Illisible",
    )
    a3 = upload(client, pid, "autre", content=b"annexe un, lisible")
    listed = {d["id"]: d for d in client.get(f"/api/v1/projects/{pid}/documents").json()}
    assert listed[a1["id"]]["superseded_by_id"] == a3["id"]
    assert listed[a2["id"]]["superseded_by_id"] is None
    assert _expected(client, pid)[1]["document_ids"] == [a2["id"], a3["id"]]
    assert _expected(client, pid)[1]["status"] == "deposee"


@pytest.mark.parametrize(
    ("documents", "message"),
    [
        ("[{type: inconnu}]", "type de document « inconnu » non déclaré dans document_types"),
        ("[{type: autre}, {type: autre}]", "pièce « autre » attendue deux fois"),
        ("[{type: autre, needs: peut-etre}]", "valeur « peut-etre » non admise"),
        ("[{type: autre, plusieurs: true}]", "paramètre inconnu"),
    ],
)
def test_expected_documents_are_checked_at_start_up(documents: str, message: str) -> None:
    import yaml

    from labelflow.settings import PROJECT_ROOT
    from labelflow.workflow import WorkflowError, parse_definition

    text = (PROJECT_ROOT / "workflows" / "regie-de-quartier.yaml").read_text(encoding="utf-8")
    text = text.replace("      - {type: note_cadrage, needs: given}\n", "", 1)
    text = text.replace("    documents:\n", f"    documents: {documents}\n", 1)
    with pytest.raises(WorkflowError) as raised:
        parse_definition(yaml.safe_load(text), source="essai.yaml")
    assert message in str(raised.value)
    assert "states[0] (groupe_projet)" in str(raised.value)


def test_final_state_expects_no_document() -> None:
    import yaml

    from labelflow.settings import PROJECT_ROOT
    from labelflow.workflow import WorkflowError, parse_definition

    data = yaml.safe_load(
        (PROJECT_ROOT / "workflows" / "regie-de-quartier.yaml").read_text(encoding="utf-8")
    )
    final = next(s for s in data["states"] if s.get("final"))
    final["documents"] = [{"type": "autre"}]
    with pytest.raises(WorkflowError, match="un état final n'attend aucune pièce"):
        parse_definition(data, source="essai.yaml")


def test_pages_show_the_expected_documents_and_the_refusal(client: Any, db: Any, app: Any) -> None:
    from fastapi.testclient import TestClient

    from tests.conftest import make_user
    from tests.test_pages_roles import PASSWORD, link, login

    pid = create_project(client)["id"]
    porteur = make_user(db, role="porteur", name="Awa Diallo", password=PASSWORD)
    link(client, pid, porteur)
    with TestClient(app) as browser:
        assert login(browser, porteur.email).status_code == 303
        _check_pages(client, browser, pid)


def _check_pages(client: Any, browser: Any, pid: int) -> None:

    html = browser.get("/").text
    assert "Pièces attendues pour cette étape" in html
    assert 'id="attendue-note_cadrage"' in html and "À déposer" in html

    note = upload(client, pid, "note_cadrage", filename="note.pdf")
    assert _review(client, note["id"], "rejected", "Il manque la signature.").status_code == 200
    for page in (browser.get("/").text, client.get(f"/projects/{pid}").text):
        item = page.split('id="attendue-note_cadrage"')[1].split("</li>")[0]
        assert "Refusée" in item
        assert typeset("Motif du refus :") in item and "Il manque la signature." in item
    # « Mon projet » asks for the correction at the top.
    mine = browser.get("/").text
    assert mine.index("Il manque la signature.") < mine.index("Où en sommes-nous")


def test_superseded_versions_are_for_staff_only(
    client: Any, db: Any, client_as: Any, app: Any
) -> None:
    """A refused version replaced by a new one stays in the history: staff list and download it;
    the porteur lists only the current one and gets 404 on the old one (API and pages)."""
    from fastapi.testclient import TestClient

    from tests.conftest import make_user
    from tests.test_pages_roles import PASSWORD, link, login

    pid = create_project(client)["id"]
    porteur = make_user(db, role="porteur", name="Awa Diallo", password=PASSWORD)
    link(client, pid, porteur)
    as_porteur = client_as(porteur)
    first = upload(as_porteur, pid, "note_cadrage", filename="note v1.pdf")
    # Before it is superseded, the porteur downloads their own document.
    assert as_porteur.get(first["download_url"]).content == PDF
    assert _review(client, first["id"], "rejected", "Il manque la signature.").status_code == 200
    second_pdf = PDF.replace(b"1.4", b"1.5")
    second = upload(as_porteur, pid, "note_cadrage", content=second_pdf, filename="note v2.pdf")

    staff_listed = client.get(f"/api/v1/projects/{pid}/documents").json()
    assert [(d["id"], d["superseded_by_id"]) for d in staff_listed] == [
        (first["id"], second["id"]),
        (second["id"], None),
    ]
    assert client.get(first["download_url"]).content == PDF
    staff_page = client.get(f"/projects/{pid}").text
    replaced = staff_page.split("Versions remplacées (1)")[1].split("</details>")[0]
    assert "note v1.pdf" in replaced
    assert typeset("refusée : Il manque la signature.") in replaced

    porteur_listed = as_porteur.get(f"/api/v1/projects/{pid}/documents").json()
    assert [d["id"] for d in porteur_listed] == [second["id"]]
    gone = as_porteur.get(first["download_url"])
    assert gone.status_code == 404
    assert gone.json()["error"]["message"] == typeset("Cette pièce est introuvable.")
    assert as_porteur.get(second["download_url"]).content == second_pdf
    with TestClient(app) as browser:
        assert login(browser, porteur.email).status_code == 303
        mine = browser.get("/").text
        # The history still tells that it was given; the documents section no longer lists it.
        pieces = mine.split('id="pieces"')[1].split("</section>")[0]
        assert "note v2.pdf" in pieces
        assert "note v1.pdf" not in pieces and "Versions remplacées" not in pieces
        assert f"/documents/{first['id']}/" not in mine
        assert browser.get(first["download_url"]).status_code == 404


def test_the_upload_body_is_in_the_openapi_schema_and_refusals_leave_no_staged_file(
    client: Any, docs_dir: Path
) -> None:
    """The route reads its multipart body itself (streamed into the staging area): its schema
    still says what it takes, and a refused upload leaves no temporary file behind."""
    operation = client.get("/openapi.json").json()["paths"][
        "/api/v1/projects/{project_id}/documents"
    ]["post"]
    schema = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["required"] == ["file", "type"]
    assert schema["properties"]["file"]["format"] == "binary"
    pid = create_project(client)["id"]
    assert _post(client, pid, EXE, filename="x.exe").status_code == 415
    assert _post(client, pid, PDF, doc_type="photo_de_classe").status_code == 422
    assert _post(client, pid, b"", filename="vide.pdf").status_code == 422
    assert _files(docs_dir) == []
    document = _post(client, pid, PDF)
    assert document.status_code == 201
    sha = document.json()["sha256"]
    assert _files(docs_dir) == [docs_dir / sha[:2] / sha]
