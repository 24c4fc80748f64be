"""The floor of bench/served.py: a bare Starlette JSON endpoint, served by uvicorn exactly as
`labelflow serve` serves labelflow (`labelflow.cli.server_options`, the same number of
processes).

Usage (by bench/served.py): python bench/bare.py --port P [--workers N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from labelflow.cli import server_options
from labelflow.settings import Settings


async def status(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[Route("/", status), Route("/healthz", status)])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    options = server_options(Settings().model_copy(update={"port": args.port}))
    if args.workers > 1:
        # Spawned processes import this module by name: its folder must be on their path.
        sys.path.insert(0, str(Path(__file__).parent))
        uvicorn.run("bare:app", workers=args.workers, **options)
    else:
        uvicorn.run(app, **options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
