"""Run the sandbox in the foreground: ``revoke-cert-bot sandbox --host --port [--seed]``."""

from __future__ import annotations

import logging
from pathlib import Path

import uvicorn

from bot.enos.sandbox.app import Sandbox


def banner(sandbox: Sandbox, url: str) -> str:
    """What to point the bot at, and what the sandbox holds."""
    lines = [
        f"EnOS sandbox listening on {url}",
        "Credentials it accepts (they work against this sandbox only):",
        f"  ENOS_API_URL={url}",
        f"  ENOS_APP_KEY={sandbox.app_key}",
        f"  ENOS_APP_SECRET={sandbox.app_secret}",
        f"  ENOS_ORG_ID={sandbox.org_id}",
        "Devices (assetId, productKey/deviceKey: certSn status):",
    ]
    for device in sandbox.state()["devices"]:
        certs = ", ".join(
            f"{cert['certSN']} {('valid', 'revoked', 'expired')[cert['certStatus']]}"
            for cert in device["certificates"]
        )
        lines.append(
            f"  {device['assetId']}, {device['productKey']}/{device['deviceKey']}: {certs}"
        )
    lines.append(f"Control API: {url}/_sandbox/state (also calls, faults, release, reset)")
    return "\n".join(lines)


def serve_sandbox(host: str, port: int, seed: Path | None = None) -> None:
    """Serve a sandbox until interrupted, after printing its URL and credentials."""
    sandbox = Sandbox(seed)
    print(banner(sandbox, f"http://{host}:{port}"), flush=True)
    # One line per call received ("... -> code 0 (signature verified)") on the console.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    # Calls held open would otherwise keep a graceful shutdown waiting for ever.
    config = uvicorn.Config(
        sandbox.asgi_app, host=host, port=port, log_level="info", timeout_graceful_shutdown=2
    )
    try:
        uvicorn.Server(config).run()
    finally:
        sandbox.close()
