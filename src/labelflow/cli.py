"""The `labelflow` command: serve, db upgrade, demo, workflow check / diagram."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine as SAEngine
from sqlalchemy import make_url

from labelflow.actors import BUILTIN_STAFF
from labelflow.settings import Settings
from labelflow.workflow import WorkflowDefinition, WorkflowError, load_directory, mermaid

EXIT_REFUSED = 1
EXIT_WORKFLOW = 2


class CommandError(Exception):
    """A French message for stderr and the exit code that goes with it."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _workflow_error(exc: WorkflowError) -> CommandError:
    return CommandError(
        f"Définition de parcours invalide : {exc.file} — {exc.entry} : {exc.message}",
        EXIT_WORKFLOW,
    )


def _database(settings: Settings) -> SAEngine:
    from labelflow.db import make_engine  # noqa: PLC0415  (keeps `--help` fast)

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return make_engine(
        settings.resolved_database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms
    )


def _upgrade(db: SAEngine) -> None:
    from labelflow import migrate  # noqa: PLC0415

    migrate.upgrade(db)


def _shown_url(settings: Settings) -> str:
    return make_url(settings.resolved_database_url).render_as_string(hide_password=True)


def _load_demo(db: SAEngine, settings: Settings, *, count: int, seed: int) -> list[int]:
    from labelflow import demo  # noqa: PLC0415
    from labelflow.documents import DocumentStore  # noqa: PLC0415
    from labelflow.workflow_store import sync_definitions  # noqa: PLC0415

    try:
        workflows = sync_definitions(db, settings.workflows_dir)
    except WorkflowError as exc:
        raise _workflow_error(exc) from None
    store = DocumentStore(settings.resolved_documents_dir)
    return demo.load_demo(db, workflows, store=store, count=count, seed=seed)


# --- commands ---------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn  # noqa: PLC0415

    from labelflow.demo import project_count  # noqa: PLC0415
    from labelflow.web.app import create_app  # noqa: PLC0415

    updates = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if args.demo:
        updates["demo"] = True
    settings = settings.model_copy(update=updates)
    db = _database(settings)
    _upgrade(db)
    try:
        app = create_app(settings, db=db)
    except WorkflowError as exc:
        raise _workflow_error(exc) from None
    if settings.demo and project_count(db) == 0:
        from labelflow import demo  # noqa: PLC0415

        ids = demo.load_demo(db, app.state.workflows, store=app.state.store)
        print(f"Données de démonstration chargées : {len(ids)} projets.")
    print(f"labelflow est disponible sur http://{settings.host}:{settings.port}")
    # Accounts come with the next issue; until then say plainly how one is identified.
    print(
        "Connexion : pas encore de comptes — chaque visite agit comme le membre du personnel "
        f"« {BUILTIN_STAFF.name} ».",
        flush=True,
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
    return 0


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    db = _database(settings)
    _upgrade(db)
    print(f"Base de données à jour ({_shown_url(settings)}).")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from labelflow.demo import project_count  # noqa: PLC0415

    if args.projects < 1:
        raise CommandError("Indiquez au moins un projet (--projects 1 ou plus).", EXIT_REFUSED)
    db = _database(settings)
    _upgrade(db)
    existing = project_count(db)
    if existing and not args.force:
        raise CommandError(
            f"La base contient déjà {existing} projet(s) : les données de démonstration ne "
            "sont chargées que dans une base vide (ajoutez --force pour les ajouter quand même).",
            EXIT_REFUSED,
        )
    ids = _load_demo(db, settings, count=args.projects, seed=args.seed)
    print(f"Données de démonstration chargées : {len(ids)} projets (graine {args.seed}).")
    return 0


def _definitions(directory: Path) -> list[WorkflowDefinition]:
    if not directory.is_dir():
        raise CommandError(f"Dossier de parcours introuvable : {directory}", EXIT_WORKFLOW)
    try:
        definitions = load_directory(directory)
    except WorkflowError as exc:
        raise _workflow_error(exc) from None
    if not definitions:
        raise CommandError(
            f"Aucune définition de parcours (*.yaml) dans {directory}", EXIT_WORKFLOW
        )
    return definitions


def cmd_workflow_check(args: argparse.Namespace, settings: Settings) -> int:
    directory = args.dir or settings.workflows_dir
    for d in _definitions(directory):
        print(
            f"{d.key} v{d.version} : {len(d.states)} états, {len(d.actions)} actions, "
            f"{len(d.document_types)} types de pièces, {len(d.attestations)} attestations"
        )
    print(f"Parcours valides ({directory}).")
    return 0


def cmd_workflow_diagram(args: argparse.Namespace, settings: Settings) -> int:
    directory = args.dir or settings.workflows_dir
    definitions = _definitions(directory)
    matching = [d for d in definitions if d.key == args.key]
    if not matching:
        known = ", ".join(sorted({d.key for d in definitions}))
        raise CommandError(
            f"Parcours « {args.key} » inconnu (parcours disponibles : {known}).", EXIT_WORKFLOW
        )
    sys.stdout.write(mermaid(max(matching, key=lambda d: d.version)))
    return 0


# --- parser -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labelflow",
        description="Suivi de la labellisation des Régies de Quartier et de Territoire.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMANDE")

    serve = commands.add_parser("serve", help="migrer la base puis servir l'application")
    serve.add_argument("--host", help="adresse d'écoute (défaut : LABELFLOW_HOST ou 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (défaut : LABELFLOW_PORT ou 8000)")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="charger les données de démonstration si la base est vide",
    )
    serve.set_defaults(handler=cmd_serve)

    db = commands.add_parser("db", help="base de données")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMANDE")
    upgrade = db_commands.add_parser("upgrade", help="appliquer les migrations")
    upgrade.set_defaults(handler=cmd_db_upgrade)

    demo = commands.add_parser("demo", help="charger les données de démonstration")
    demo.add_argument("--projects", type=int, default=12, help="nombre de projets (défaut : 12)")
    demo.add_argument("--seed", type=int, default=0, help="graine du tirage (défaut : 0)")
    demo.add_argument(
        "--force", action="store_true", help="charger même si la base contient déjà des projets"
    )
    demo.set_defaults(handler=cmd_demo)

    workflow = commands.add_parser("workflow", help="définitions de parcours")
    wf_commands = workflow.add_subparsers(
        dest="workflow_command", required=True, metavar="COMMANDE"
    )
    check = wf_commands.add_parser("check", help="valider les fichiers de parcours")
    check.add_argument(
        "--dir", type=Path, help="dossier des fichiers (défaut : LABELFLOW_WORKFLOWS_DIR)"
    )
    check.set_defaults(handler=cmd_workflow_check)
    diagram = wf_commands.add_parser("diagram", help="diagramme Mermaid d'un parcours")
    diagram.add_argument(
        "key", metavar="CLE", help="clé du parcours, par exemple regie-de-quartier"
    )
    diagram.add_argument(
        "--dir", type=Path, help="dossier des fichiers (défaut : LABELFLOW_WORKFLOWS_DIR)"
    )
    diagram.set_defaults(handler=cmd_workflow_diagram)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args, Settings()))
    except CommandError as exc:
        print(exc.message, file=sys.stderr)
        return exc.code


if __name__ == "__main__":
    sys.exit(main())
