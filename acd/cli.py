"""Command line: ``acd serve`` (production), ``acd demo`` (everything local), ``acd sim``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvloop

from acd.config import Settings, load_settings
from acd.errors import AcdError, ConfigError
from acd.logs import setup_logging


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``acd`` console script."""
    parser = argparse.ArgumentParser(prog="acd", description="Call router for Asterisk")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="route calls of a real Asterisk")
    serve.add_argument("--config", type=Path, help="TOML file (default: $ACD_CONFIG)")
    demo = commands.add_parser("demo", help="embedded Redis + simulator + acd, on localhost")
    demo.add_argument("--http-port", type=int, default=8080)
    demo.add_argument("--agents", type=int, default=8)
    demo.add_argument("--calls-per-minute", type=float, default=40.0)
    demo.add_argument("--seed", type=int, default=None)
    sim = commands.add_parser("sim", help="run only the Asterisk simulator")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=5038)
    sim.add_argument("--user", default="acd")
    sim.add_argument("--secret", default="acd-demo-secret")
    sim.add_argument("--phones", type=int, default=10)
    sim.add_argument("--calls-per-minute", type=float, default=30.0)
    commands.add_parser("hash-token", help="read an API token on stdin, print its sha256")
    args = parser.parse_args(argv)
    if args.command == "hash-token":
        from acd.api.auth import token_hash

        print(token_hash(sys.stdin.readline().strip()))
        return 0
    try:
        if args.command == "serve":
            settings = load_settings(args.config)
            redis_password = urlsplit(settings.redis.url).password or ""
            setup_logging(
                settings.log_level, [settings.ami.secret, settings.redis.url, redis_password]
            )
            return _run(_serve(settings))
        if args.command == "demo":
            from acd.demo import run_demo

            setup_logging("WARNING")
            return _run(run_demo(args.http_port, args.agents, args.calls_per_minute, args.seed))
        from acd.sim import run_standalone

        setup_logging("INFO")
        return _run(
            run_standalone(
                args.host,
                args.port,
                args.user,
                args.secret,
                phones=args.phones,
                calls_per_minute=args.calls_per_minute,
            )
        )
    except ConfigError as exc:
        print(f"acd: configuration error: {exc}", file=sys.stderr)
        return 2
    except AcdError as exc:
        print(f"acd: {exc}", file=sys.stderr)
        return 1


def _run(coro: Coroutine[Any, Any, None]) -> int:
    """Run until done or until SIGINT/SIGTERM, with uvloop."""

    async def until_signal() -> None:
        task = asyncio.ensure_future(coro)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    uvloop.run(until_signal())
    return 0


async def _serve(settings: Settings) -> None:
    from acd.app import AcdApp

    app = AcdApp(settings)
    await app.start()
    print(
        f"acd: routing; API and /metrics on http://{settings.http.host}:{app.http_port}",
        file=sys.stderr,
        flush=True,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await app.stop()


if __name__ == "__main__":
    sys.exit(main())
