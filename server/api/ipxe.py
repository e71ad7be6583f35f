"""The iPXE routes (`metalinit serve --pxe`): `/boot.ipxe`, the same for every machine, which
chains to `/ipxe?mac=…&platform=…`, the script for that machine. No token: a machine in
its firmware has none; the answer reveals only whether to boot the agent, and the
agent's own calls need the per-boot token lookup gives."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from server import netboot, pxe
from server.api.auth import store_of
from server.macs import normal_mac

router = APIRouter(tags=["netboot"])
log = logging.getLogger("metalinit.server")
Text = Annotated[str, Query(max_length=64)]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/boot.ipxe", response_class=PlainTextResponse, summary="iPXE: ask for this machine")
def chain(request: Request) -> PlainTextResponse:
    return PlainTextResponse(pxe.chain_script(_base(request)))


@router.get("/ipxe", response_class=PlainTextResponse, summary="iPXE: this machine's boot")
def machine_script(
    request: Request, mac: Text = "", platform: Text = "", buildarch: Text = ""
) -> PlainTextResponse:
    found = normal_mac(mac)
    kind = pxe.platform_of(platform)
    artifacts = request.app.state.artifacts
    script, why = store_of(request).read(
        lambda conn: netboot.script_for(conn, found, kind, _base(request), artifacts)
    )
    address = request.client.host if request.client else "?"
    log.info("ipxe: %s from %s (%s %s) boots %s", found or repr(mac), address, kind,
             buildarch or "?", why)  # fmt: skip
    return PlainTextResponse(script)
