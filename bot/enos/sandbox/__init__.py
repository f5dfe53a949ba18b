"""A local stand-in for EnOS's API gateway, for the demo, the tests and staging.

It speaks the token service, Revoke Certificate and List Certificate as documented,
checks every signature, keeps devices and certificates in memory, records every call,
and can be told to fail in the ways a real network and gateway fail.

In-process::

    sandbox = Sandbox()
    with ServerThread(sandbox.asgi_app) as server:
        sandbox.inject("drop", action="revoke")
        ...  # point an EnosClient at server.url

From the command line: ``revoke-cert-bot sandbox --host 127.0.0.1 --port 8700``.
"""

from bot.enos.sandbox.app import DEFAULT_APP_KEY, DEFAULT_APP_SECRET, DEFAULT_ORG_ID, Sandbox
from bot.enos.sandbox.calls import CallRecord
from bot.enos.sandbox.faults import Fault, FaultKind, HeldCall
from bot.enos.sandbox.serve import serve_sandbox

__all__ = [
    "DEFAULT_APP_KEY",
    "DEFAULT_APP_SECRET",
    "DEFAULT_ORG_ID",
    "CallRecord",
    "Fault",
    "FaultKind",
    "HeldCall",
    "Sandbox",
    "serve_sandbox",
]
