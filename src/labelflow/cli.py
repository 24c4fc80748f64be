"""The `labelflow` command: serve, worker, db upgrade, users, tokens, demo, remind, workflow check /
diagram / migrate, storage check / gc, history verify."""

from __future__ import annotations

import argparse
import getpass
import logging
import select
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine as SAEngine
from sqlalchemy import make_url

from labelflow.actors import ROLE_LABELS, ROLES, SYSTEM
from labelflow.french import plural
from labelflow.settings import Settings
from labelflow.workflow import WorkflowDefinition, WorkflowError, load_directory, mermaid

EXIT_REFUSED = 1
EXIT_WORKFLOW = 2
EXIT_USAGE = 2  # a request the command refuses: bad value, existing account, unsafe setting
# How long `users create` waits for a password piped on standard input before generating one.
STDIN_WAIT_SECONDS = 0.5


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
    from labelflow import consequences, deadlines  # noqa: PLC0415  (keeps `--help` fast)
    from labelflow.db import make_engine  # noqa: PLC0415

    # Every command that writes records facts: their subscribers must be there.
    consequences.install()
    deadlines.configure(due_soon_days=settings.due_soon_days)

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Sized as create_app sizes it: `serve` hands this engine to the app.
    return make_engine(
        settings.resolved_database_url,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        pool_size=settings.max_requests_in_flight,
        pool_timeout=settings.saturation_wait_seconds,
    )


def _database_refused(db: SAEngine, exc: Exception) -> CommandError:
    """A French reason for a database labelflow cannot use at start (missing, unreachable,
    read-only), rather than a traceback."""
    shown = db.url.render_as_string(hide_password=True)
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    lowered = reason.lower()
    if "readonly" in lowered or "read-only" in lowered or "read only" in lowered:
        message = (
            f"La base de données {shown} est en lecture seule : labelflow doit pouvoir y "
            "écrire (migrations, sessions, historique)."
        )
    elif "does not exist" in lowered:
        message = f"La base de données {shown} n'existe pas : créez-la d'abord (createdb)."
    elif "unable to open" in lowered:
        message = f"Impossible d'ouvrir la base de données {shown} (dossier absent ou interdit)."
    else:
        message = f"Base de données {shown} injoignable."
    return CommandError(f"{message} Détail : {reason}", EXIT_USAGE)


def _upgrade(db: SAEngine) -> None:
    from sqlalchemy.exc import DBAPIError  # noqa: PLC0415

    from labelflow import migrate  # noqa: PLC0415

    try:
        migrate.upgrade(db)
    except DBAPIError as exc:
        db.dispose()
        raise _database_refused(db, exc) from None


def _shown_url(settings: Settings) -> str:
    return make_url(settings.resolved_database_url).render_as_string(hide_password=True)


def _load_demo(db: SAEngine, settings: Settings, *, count: int, seed: int) -> list[int]:
    from labelflow.demo.load import load_demo  # noqa: PLC0415
    from labelflow.storage import from_settings  # noqa: PLC0415
    from labelflow.workflow_store import sync_definitions  # noqa: PLC0415

    try:
        workflows = sync_definitions(db, settings.workflows_dir)
    except WorkflowError as exc:
        raise _workflow_error(exc) from None
    store = from_settings(settings)
    return load_demo(db, workflows, store=store, count=count, seed=seed)


# --- commands ---------------------------------------------------------------------------------


def _refuse_unsafe(settings: Settings) -> None:
    """Production needs a real secret, and never gets the demo's well-known passwords."""
    try:
        settings.check_production()
    except ValueError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    if settings.demo and settings.environment == "production":
        raise CommandError(
            "Le mode démonstration crée des comptes au mot de passe connu : il est refusé en "
            "production (retirez --demo et LABELFLOW_DEMO).",
            EXIT_USAGE,
        )


def _print_demo_logins(db: SAEngine) -> None:
    from labelflow.demo.team import demo_login_lines, demo_logins  # noqa: PLC0415

    for line in demo_login_lines(demo_logins(db)):
        print(line)


# uvicorn imports the app of each process by this name when there are several.
SERVED_APP = "labelflow.web.app:served_app"
MAX_PROCESSES = 64


def server_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn serves labelflow: `serve`, and the bare app of bench/served.py, use these."""
    trusted = settings.trusted_proxies.strip()
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": "info",
        "access_log": settings.access_log,
        # The client address (sign-in throttling, the history) comes from a proxy's headers
        # only when that proxy is named; otherwise any client could pick its own.
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or None,
        # With several processes, the supervisor kills a child that does not answer its ping
        # within this time: 5 s (uvicorn's default) killed children still starting up on a
        # busy machine, again and again.
        "timeout_worker_healthcheck": 30,
    }


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    if args.workers is not None and not 1 <= args.workers <= MAX_PROCESSES:
        raise CommandError(
            f"--workers : un nombre de processus entre 1 et {MAX_PROCESSES}.", EXIT_USAGE
        )
    updates: dict[str, Any] = {
        k: v
        for k, v in (("host", args.host), ("port", args.port), ("processes", args.workers))
        if v is not None
    }
    if args.demo:
        updates["demo"] = True
    settings = settings.model_copy(update=updates)
    # Checked before touching the database: a refused start changes nothing.
    _refuse_unsafe(settings)

    import uvicorn  # noqa: PLC0415
    from uvicorn.supervisors import Multiprocess  # noqa: PLC0415

    from labelflow.web.app import create_app  # noqa: PLC0415

    db = _database(settings)
    _upgrade(db)
    try:
        app = create_app(settings, db=db)
    except WorkflowError as exc:
        raise _workflow_error(exc) from None
    if settings.demo:
        from labelflow.demo.load import load_demo, project_count  # noqa: PLC0415
        from labelflow.demo.team import demo_logins, ensure_demo_accounts  # noqa: PLC0415

        if project_count(db) == 0:
            ids = load_demo(db, app.state.workflows, store=app.state.store)
            print(f"Données de démonstration chargées : {len(ids)} projets.")
        elif not demo_logins(db):
            # A base filled before accounts existed: give it the demo team so one can sign in.
            ensure_demo_accounts(db)
    print(f"labelflow est disponible sur http://{settings.host}:{settings.port}")
    if settings.demo:
        _print_demo_logins(db)
    processes = settings.processes
    config = uvicorn.Config(
        SERVED_APP if processes > 1 else app,
        factory=processes > 1,
        workers=processes,
        **server_options(settings),
    )
    server = uvicorn.Server(config)
    stop = threading.Event()  # SIGTERM or SIGINT received: serve no more, stop the worker

    if processes > 1:
        # Each process builds its own app from the same environment (uvicorn spawns them and
        # restarts one that dies); this one supervises them and runs the worker, if any.
        print(f"{processes} processus servent les requêtes, sur la même base.")

        def run() -> None:
            supervisor = Multiprocess(config, sockets=[config.bind_socket()])
            # A signal received before the supervisor took the handlers over is not lost.
            if stop.is_set():
                supervisor.should_exit.set()
            supervisor.run()

    else:

        def run() -> None:
            server.run()

    background = None
    if settings.worker:
        from labelflow import worker  # noqa: PLC0415

        # One worker in this process, with the app's runtime (its templates, its store).
        background = worker.start_thread(
            db,
            settings=settings,
            runtime=app.state.runtime,
            poll_seconds=settings.worker_poll_seconds,
            stop=stop,
        )
        print("Tâches : un worker tourne dans ce processus (LABELFLOW_WORKER=false pour aucun).")
    sys.stdout.flush()
    if background is None:
        run()
        return 0

    # uvicorn shuts down on SIGTERM/SIGINT, then raises the signal again once its own handlers
    # are gone: this one turns that into the worker's stop, so the process exits cleanly. A
    # signal that arrives before uvicorn installed its handlers lands here too: the server
    # then stops right after its start-up instead of serving on (a stop just after a start
    # was once ignored, and the process had to be killed).
    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()
        server.should_exit = True

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    try:
        run()
    finally:
        stop.set()
        # A job in flight finishes first (at most an SMTP exchange: its timeout, and a margin).
        background.join(timeout=settings.smtp_timeout_seconds + 5)
    return 0


def _worker_runtime(db: SAEngine, settings: Settings) -> Any:
    """The runtime the web app builds (the same templates, store and workflow engine)."""
    from labelflow.web.templating import make_templates  # noqa: PLC0415
    from labelflow.worker import build_runtime  # noqa: PLC0415

    try:
        return build_runtime(settings, db, templates=make_templates(settings).env)
    except WorkflowError as exc:
        raise _workflow_error(exc) from None


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from labelflow import worker  # noqa: PLC0415

    db = _database(settings)
    _upgrade(db)
    runtime = _worker_runtime(db, settings)
    one = worker.Worker(
        db, settings=settings, runtime=runtime, poll_seconds=settings.worker_poll_seconds
    )
    if args.once:
        try:
            ran = one.tick()
        finally:
            one.release()
        print(f"Tâches exécutées : {ran}.")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(
        f"Worker {one.name} démarré : il exécute les tâches dues toutes les "
        f"{settings.worker_poll_seconds:g} s (Ctrl+C pour l'arrêter)."
    )
    sys.stdout.flush()
    one.run(stop)
    print("Worker arrêté.")
    return 0


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    db = _database(settings)
    _upgrade(db)
    print(f"Base de données à jour ({_shown_url(settings)}).")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from labelflow.demo.load import project_count  # noqa: PLC0415

    if args.projects < 1:
        raise CommandError("Indiquez au moins un projet (--projects 1 ou plus).", EXIT_REFUSED)
    _refuse_unsafe(settings.model_copy(update={"demo": True}))
    db = _database(settings)
    _upgrade(db)
    existing = project_count(db)
    if existing and not args.force:
        raise CommandError(
            f"La base contient déjà {plural(existing, 'projet')} : les données de démonstration ne "
            "sont chargées que dans une base vide (ajoutez --force pour les ajouter quand même).",
            EXIT_REFUSED,
        )
    ids = _load_demo(db, settings, count=args.projects, seed=args.seed)
    print(f"Données de démonstration chargées : {len(ids)} projets (graine {args.seed}).")
    return 0


# --- accounts ---------------------------------------------------------------------------------


def _invalid(exc: ValidationError) -> CommandError:
    from labelflow.web.errors import french_fields  # noqa: PLC0415

    labels = {"email": "e-mail", "name": "nom", "password": "mot de passe"}
    details = "; ".join(
        f"{labels.get(f['field'], f['field'])} : {f['message']}"
        for f in french_fields(exc.errors())
    )
    return CommandError(f"Valeur refusée — {details}", EXIT_USAGE)


def _stdin_password(required: bool) -> str | None:
    """A password given on standard input (one line), or None to generate one.

    With --password-stdin the line is required (typed without echo on a terminal); otherwise
    it is read only when stdin is not a terminal and something arrives there quickly.
    """
    stdin = sys.stdin
    try:
        interactive = stdin is not None and stdin.isatty()
    except ValueError:  # closed
        stdin, interactive = None, False
    if stdin is None:
        line = ""
    elif required and interactive:
        line = getpass.getpass("Mot de passe : ")
    elif required:
        line = stdin.readline()
    elif interactive:
        return None
    else:
        try:
            ready, _, _ = select.select([stdin], [], [], STDIN_WAIT_SECONDS)
        except (OSError, ValueError):  # not a selectable file
            ready = [stdin]
        line = stdin.readline() if ready else ""
    password = line.rstrip("\r\n")
    if required and not password:
        raise CommandError(
            "Aucun mot de passe reçu sur l'entrée standard (--password-stdin).", EXIT_USAGE
        )
    return password or None


def cmd_users_create(args: argparse.Namespace, settings: Settings) -> int:
    from labelflow import accounts  # noqa: PLC0415
    from labelflow.db import transaction  # noqa: PLC0415
    from labelflow.errors import (
        DomainError,
    )
    from labelflow.schemas import UserCreate  # noqa: PLC0415

    if args.admin and args.role != "staff":
        raise CommandError(
            "Seul un membre de l'équipe nationale (--role staff) peut être administrateur.",
            EXIT_USAGE,
        )
    given = _stdin_password(args.password_stdin)
    password = given or accounts.generate_password()
    try:
        accounts.check_password(password)
        data = UserCreate(
            email=args.email, name=args.name, role=args.role, is_admin=args.admin, password=password
        )
    except DomainError as exc:
        raise CommandError(exc.message, EXIT_USAGE) from None
    except ValidationError as exc:
        raise _invalid(exc) from None
    db = _database(settings)
    _upgrade(db)
    try:
        with transaction(db) as session:
            user = accounts.create_user(session, data=data, actor=SYSTEM)
    except DomainError as exc:
        raise CommandError(exc.message, EXIT_USAGE) from None
    role = ROLE_LABELS[user.role] + (", administrateur" if user.is_admin else "")
    print(f"Compte créé : {user.name} <{user.email}> — {role} (n° {user.id}).")
    if given is None:
        # The only time this password is ever shown: it is stored hashed.
        print(f"Mot de passe (affiché une seule fois, notez-le) : {password}")
    return 0


def cmd_users_list(args: argparse.Namespace, settings: Settings) -> int:
    from labelflow import accounts, dates  # noqa: PLC0415
    from labelflow.db import transaction  # noqa: PLC0415

    db = _database(settings)
    _upgrade(db)
    with transaction(db, write=False) as session:
        users = accounts.list_users(session, role=args.role)
    if not users:
        print("Aucun compte." if not args.role else "Aucun compte avec ce rôle.")
        return 0
    rows = [("n°", "e-mail", "nom", "rôle", "admin", "actif", "dernière connexion")]
    for u in users:
        last = dates.paris_date(u.last_login_at).isoformat() if u.last_login_at else "jamais"
        rows.append(
            (
                str(u.id),
                u.email,
                u.name,
                ROLE_LABELS.get(u.role, u.role),
                "oui" if u.is_admin else "",
                "oui" if u.active else "non",
                last,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def cmd_tokens_create(args: argparse.Namespace, settings: Settings) -> int:
    from labelflow import accounts  # noqa: PLC0415
    from labelflow.db import transaction  # noqa: PLC0415
    from labelflow.schemas import TokenCreate  # noqa: PLC0415

    try:
        data = TokenCreate(name=args.name)
    except ValidationError as exc:
        raise _invalid(exc) from None
    db = _database(settings)
    _upgrade(db)
    with transaction(db) as session:
        user = accounts.get_user_by_email(session, args.email)
        if user is None or not user.active:
            raise CommandError(
                f"Aucun compte actif avec l'adresse {args.email} : créez-le avec "
                "« labelflow users create » (ou réactivez-le).",
                EXIT_USAGE,
            )
        raw, _token = accounts.create_token(session, user=user, name=data.name)
        owner = f"{user.name} <{user.email}>"
    # The token alone on stdout (for scripts); the explanation on stderr.
    print(
        f"Jeton « {data.name} » créé pour {owner} ; affiché une seule fois, à envoyer en "
        "en-tête « Authorization: Bearer <jeton> » :",
        file=sys.stderr,
    )
    print(raw)
    return 0


def cmd_remind(args: argparse.Namespace, settings: Settings) -> int:
    from labelflow import dates, reminders  # noqa: PLC0415
    from labelflow.db import transaction  # noqa: PLC0415
    from labelflow.workflow_store import sync_definitions  # noqa: PLC0415

    try:
        today = dates.parse_date(args.date) if args.date else dates.today()
    except ValueError as exc:
        raise CommandError(f"--date : {exc}", EXIT_USAGE) from None
    db = _database(settings)
    _upgrade(db)
    try:
        engine = sync_definitions(db, settings.workflows_dir)
    except WorkflowError as exc:
        raise _workflow_error(exc) from None
    # One transaction: every project in its own savepoint (see reminders.remind); the e-mails
    # are jobs, sent by the worker after this commit.
    failed: list[int] = []
    with transaction(db) as session:
        sent = reminders.remind(session, today=today, engine=engine, failures=failed)
    print(f"Rappels d'échéance notifiés le {dates.french_date(today)} : {sent}.")
    if failed:
        numbers = ", ".join(str(i) for i in failed)
        print(
            f"Échec des rappels des projets n° {numbers} (détail ci-dessus) : ils seront "
            "envoyés à la prochaine passe.",
            file=sys.stderr,
        )
        return EXIT_REFUSED
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


def cmd_workflow_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from labelflow import workflow_migration  # noqa: PLC0415
    from labelflow.db import transaction  # noqa: PLC0415
    from labelflow.errors import DomainError  # noqa: PLC0415
    from labelflow.workflow_store import sync_definitions  # noqa: PLC0415

    db = _database(settings)
    _upgrade(db)
    try:
        engine = sync_definitions(db, settings.workflows_dir)
    except WorkflowError as exc:
        raise _workflow_error(exc) from None
    try:
        with transaction(db, write=False) as session:
            plan = workflow_migration.plan_migration(
                session,
                engine=engine,
                actor=SYSTEM,
                key=args.key,
                to_version=args.to,
                project_ids=args.project or (),
            )
    except DomainError as exc:
        raise CommandError(exc.message, EXIT_USAGE) from None
    print(
        f"Parcours « {plan.label} » ({plan.key}) vers la version {plan.to_version} : "
        f"{plural(len(plan.projects), 'projet')}, "
        f"{plural(len(plan.movable), 'migrable', 'migrables')}, "
        f"{plural(len(plan.refused), 'refusé', 'refusés')}."
    )
    for line in _plan_lines(plan):
        print(line)
    if args.dry_run:
        print("Essai à blanc : rien n'a été modifié.")
        return 0
    outcomes = workflow_migration.apply_plan(
        plan, engine=engine, actor=SYSTEM, each=lambda: transaction(db)
    )
    done = [o for o in outcomes if o.status == "migre"]
    print(f"Migrés : {len(done)} sur {len(outcomes)}.")
    for outcome in outcomes:
        if outcome.status != "migre":
            word = "ignoré" if outcome.status == "ignore" else "refusé"
            print(f"  n° {outcome.project_id} {outcome.name} : {word} — {outcome.reason}")
    # A project changed since the plan asks for another run; a refused one never will move.
    return EXIT_REFUSED if any(o.status == "ignore" for o in outcomes) else 0


def _plan_lines(plan: Any) -> list[str]:
    lines = []
    for p in plan.projects:
        head = f"  n° {p.project_id} {p.name} (v{p.from_version}, « {p.state_before_label} »)"
        if p.refused is not None:
            lines.append(f"{head} : refusé — {p.refused}")
            continue
        lines.append(f"{head} → v{p.to_version}, « {p.state_after_label} »")
        lines += [f"      devient non rempli : {c.message}" for c in p.became_unmet]
        lines += [f"      devient rempli : {c.message}" for c in p.became_met]
        for d in p.deadlines:
            what = "date cible du label" if d.kind == "label" else f"étape {d.state_after}"
            if d.due_before != d.due_after:
                lines.append(
                    f"      échéance ({what}) : {d.due_before.isoformat()} → "
                    f"{d.due_after.isoformat()}"
                )
            else:
                lines.append(f"      échéance ({d.state_before} → {d.state_after}) inchangée")
        if p.report is not None:
            lines.append(
                f"      rapport en brouillon : {len(p.report['carried'])} réponse(s) reprise(s), "
                f"{len(p.report['new'])} nouveau(x) critère(s), "
                f"{len(p.report['dropped'])} retirée(s)"
            )
    return lines


def _store_and_db(settings: Settings) -> tuple[SAEngine, Any]:
    from labelflow.storage import from_settings  # noqa: PLC0415

    db = _database(settings)
    try:
        _upgrade(db)
        return db, from_settings(settings)
    except ValueError as exc:
        db.dispose()
        raise CommandError(str(exc), EXIT_USAGE) from None
    except BaseException:
        db.dispose()
        raise


def cmd_storage_check(args: argparse.Namespace, settings: Settings) -> int:
    from labelflow.db import transaction  # noqa: PLC0415
    from labelflow.documents import check_store  # noqa: PLC0415

    db, store = _store_and_db(settings)
    try:
        with transaction(db) as session:
            problems = check_store(session, store=store)
    finally:
        db.dispose()
    for problem in problems:
        print(problem.line())
    if problems:
        print(
            f"{plural(len(problems), 'problème', 'problèmes')} dans le stockage "
            f"({store.describe()}).",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    print(f"Stockage cohérent ({store.describe()}).")
    return 0


def cmd_storage_gc(args: argparse.Namespace, settings: Settings) -> int:
    from labelflow.db import transaction  # noqa: PLC0415
    from labelflow.documents import collect_garbage  # noqa: PLC0415

    if args.older_than < 0:
        raise CommandError("--older-than : un nombre d'heures positif est attendu.", EXIT_USAGE)
    db, store = _store_and_db(settings)
    try:
        with transaction(db) as session:
            removed = collect_garbage(session, store=store, older_than_hours=args.older_than)
    finally:
        db.dispose()
    for name in removed:
        print(f"supprimé : {name}")
    print(f"{plural(len(removed), 'fichier supprimé', 'fichiers supprimés')}.")
    return 0


def cmd_history_verify(args: argparse.Namespace, settings: Settings) -> int:
    from labelflow import chain  # noqa: PLC0415
    from labelflow.db import transaction  # noqa: PLC0415

    db = _database(settings)
    try:
        _upgrade(db)
        with transaction(db, write=False) as session:
            report = chain.verify(session)
    finally:
        db.dispose()
    for broken in report.breaks:
        print(broken.line())
    checked = (
        f"{plural(report.events, 'fait', 'faits')} en {plural(report.chains, 'chaîne', 'chaînes')}"
    )
    if report.breaks:
        print(
            f"Historique altéré : {plural(len(report.breaks), 'chaîne rompue', 'chaînes rompues')}"
            f" ({checked}).",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    print(f"Historique vérifié : {checked}, aucune rupture.")
    return 0


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from labelflow import backup  # noqa: PLC0415

    db, store = _store_and_db(settings)
    try:
        report = backup.create_backup(db=db, store=store, dest=args.dest)
    except backup.BackupError as exc:
        raise CommandError(str(exc), EXIT_REFUSED) from None
    finally:
        db.dispose()
    for problem in report.problems:
        print(problem, file=sys.stderr)
    print(
        f"Sauvegarde écrite dans {report.dest} : la base et "
        f"{plural(report.documents, 'fichier de pièce', 'fichiers de pièces')} "
        f"({report.size // (1024 * 1024)} Mo), {backup.MANIFEST}."
    )
    if report.problems:
        print(
            f"{plural(len(report.problems), 'pièce', 'pièces')} en défaut dans le stockage "
            "(voir labelflow storage check).",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    from labelflow import backup  # noqa: PLC0415
    from labelflow.storage import from_settings  # noqa: PLC0415

    db = _database(settings)
    try:
        store = from_settings(settings)
        report = backup.restore_backup(db=db, store=store, src=args.src)
    except (backup.BackupError, ValueError) as exc:
        raise CommandError(str(exc), EXIT_REFUSED) from None
    finally:
        db.dispose()
    print(
        f"Sauvegarde {args.src} restaurée : la base ({_shown_url(settings)}) et "
        f"{plural(report.documents, 'fichier de pièce', 'fichiers de pièces')} "
        f"({store.describe()})."
    )
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
    serve.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="nombre de processus serveurs sur la même base (défaut : LABELFLOW_PROCESSES ou 1)",
    )
    serve.set_defaults(handler=cmd_serve)

    work = commands.add_parser(
        "worker",
        help="exécuter les tâches (courriels, résumés, rappels)",
        description="Exécute les tâches dues (courriels, résumés quotidiens, rappels) et planifie "
        "le travail périodique, jusqu'à l'arrêt (SIGTERM, Ctrl+C). Plusieurs workers peuvent "
        "tourner ensemble.",
    )
    work.add_argument(
        "--once",
        action="store_true",
        help="exécuter ce qui est dû, afficher combien de tâches ont tourné, puis s'arrêter",
    )
    work.set_defaults(handler=cmd_worker)

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

    users = commands.add_parser("users", help="comptes")
    users_commands = users.add_subparsers(dest="users_command", required=True, metavar="COMMANDE")
    create = users_commands.add_parser(
        "create",
        help="créer un compte",
        description="Crée un compte. Le mot de passe est lu sur l'entrée standard (une ligne) "
        "avec --password-stdin ou quand elle est redirigée ; sinon il est généré et affiché "
        "une seule fois.",
    )
    create.add_argument("email", metavar="EMAIL", help="adresse e-mail (identifiant)")
    create.add_argument("--name", required=True, metavar="NOM", help="nom affiché")
    create.add_argument("--role", required=True, choices=ROLES, help="rôle du compte")
    create.add_argument(
        "--admin", action="store_true", help="administrateur (gère les comptes ; staff seulement)"
    )
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="lire le mot de passe sur l'entrée standard (au moins 12 caractères)",
    )
    create.set_defaults(handler=cmd_users_create)
    listing = users_commands.add_parser("list", help="lister les comptes")
    listing.add_argument("--role", choices=ROLES, help="seulement ce rôle")
    listing.set_defaults(handler=cmd_users_list)

    tokens = commands.add_parser("tokens", help="jetons d'API")
    tokens_commands = tokens.add_subparsers(
        dest="tokens_command", required=True, metavar="COMMANDE"
    )
    token = tokens_commands.add_parser(
        "create", help="créer un jeton d'API pour un compte actif (affiché une seule fois)"
    )
    token.add_argument("email", metavar="EMAIL", help="adresse e-mail du compte")
    token.add_argument("--name", required=True, metavar="NOM", help="à quoi sert le jeton")
    token.set_defaults(handler=cmd_tokens_create)

    remind = commands.add_parser(
        "remind",
        help="envoyer les rappels d'échéance dus (une passe)",
        description="Une passe de rappels : bientôt, le jour même, puis 7 jours après et tous "
        "les 30 jours. Chaque rappel n'est envoyé qu'une fois, même si deux passes se "
        "chevauchent.",
    )
    remind.add_argument(
        "--date", metavar="JJ/MM/AAAA", help="jour de la passe (défaut : aujourd'hui, à Paris)"
    )
    remind.set_defaults(handler=cmd_remind)

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
    migrate = wf_commands.add_parser(
        "migrate", help="faire passer les projets en cours à une nouvelle version du parcours"
    )
    migrate.add_argument("key", metavar="CLE", help="clé du parcours")
    migrate.add_argument(
        "--to", type=int, required=True, metavar="VERSION", help="version d'arrivée"
    )
    migrate.add_argument(
        "--project",
        type=int,
        action="append",
        metavar="ID",
        help="seulement ce projet (répétable ; défaut : tous ceux du parcours)",
    )
    migrate.add_argument(
        "--dry-run", action="store_true", help="montrer le plan sans rien modifier"
    )
    migrate.set_defaults(handler=cmd_workflow_migrate)

    storage = commands.add_parser("storage", help="fichiers des pièces")
    storage_commands = storage.add_subparsers(
        dest="storage_command", required=True, metavar="COMMANDE"
    )
    storage_check = storage_commands.add_parser(
        "check",
        help="vérifier chaque fichier (manquant, altéré, orphelin) ; code 1 au moindre problème",
    )
    storage_check.set_defaults(handler=cmd_storage_check)
    gc = storage_commands.add_parser(
        "gc", help="supprimer les fichiers qu'aucune pièce ne référence"
    )
    gc.add_argument(
        "--older-than",
        type=float,
        default=24.0,
        metavar="HEURES",
        help="seulement ceux plus anciens que ce délai (défaut : 24 heures)",
    )
    gc.set_defaults(handler=cmd_storage_gc)

    history = commands.add_parser("history", help="historique des projets")
    history_commands = history.add_subparsers(
        dest="history_command", required=True, metavar="COMMANDE"
    )
    verify = history_commands.add_parser(
        "verify",
        help="vérifier la chaîne d'empreintes de chaque historique ; code 1 à la moindre rupture",
        description="Recalcule l'empreinte SHA-256 de chaque fait et son lien au précédent ; "
        "affiche, pour chaque chaîne rompue, le premier fait en cause.",
    )
    verify.set_defaults(handler=cmd_history_verify)

    save = commands.add_parser(
        "backup",
        help="sauvegarder la base et les pièces dans un dossier nouveau (service en marche)",
        description="Écrit le dossier DEST (refusé s'il existe) : une copie cohérente de la "
        "base (SQLite : sauvegarde en ligne ; PostgreSQL : pg_dump), les fichiers des pièces "
        "qu'elle référence et manifest.json (sha256 et taille de chaque fichier).",
    )
    save.add_argument("dest", type=Path, metavar="DEST", help="dossier à créer")
    save.set_defaults(handler=cmd_backup)
    restore = commands.add_parser(
        "restore",
        help="restaurer une sauvegarde dans une base et un stockage vides",
        description="Vérifie le manifeste de SRC, puis restaure la base et les pièces dans la "
        "base et le stockage configurés, qui doivent être vides.",
    )
    restore.add_argument("src", type=Path, metavar="SRC", help="dossier de la sauvegarde")
    restore.set_defaults(handler=cmd_restore)
    return parser


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        from labelflow.web.errors import french_message  # noqa: PLC0415

        details = "; ".join(
            f"LABELFLOW_{'_'.join(str(p) for p in e['loc']).upper()} : {french_message(dict(e))}"
            for e in exc.errors()
        )
        raise CommandError(f"Configuration invalide — {details}", EXIT_USAGE) from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args, _settings()))
    except CommandError as exc:
        print(exc.message, file=sys.stderr)
        return exc.code


if __name__ == "__main__":
    sys.exit(main())
