"""A client of the admin API, for the CLI and for tests. Whatever goes wrong (no server,
a refused call, a body that is not JSON) becomes one `ClientError` with a readable line.

The server is `--server URL`, else $METALINIT_SERVER, else http://127.0.0.1:8080. The
admin token is $METALINIT_TOKEN, else the `admin-token` file in `--data DIR`, else in
$METALINIT_DATA, else in the default data directory.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

import requests

from agent.provision import wire
from server.paths import ADMIN_TOKEN_FILE, data_dir

DEFAULT_SERVER = "http://127.0.0.1:8080"


class ClientError(Exception):
    """A call that did not work, in one line for the user."""

    def __init__(self, message: str, status: int | None = None, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def server_url(given: str | None = None) -> str:
    return (given or os.environ.get("METALINIT_SERVER") or DEFAULT_SERVER).rstrip("/")


def admin_token(data: str | None = None) -> str:
    env = os.environ.get("METALINIT_TOKEN")
    if env:
        return env.strip()
    path = data_dir(data) / ADMIN_TOKEN_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        raise ClientError(
            f"no admin token: set METALINIT_TOKEN, or --data DIR of the server "
            f"(its admin-token file; {path} does not exist)"
        ) from None
    except PermissionError:
        raise ClientError(f"cannot read {path}: run as its owner or set METALINIT_TOKEN") from None


def _q(part: str) -> str:
    return quote(part, safe="")


class AdminClient:
    def __init__(self, server: str, token: str, *, timeout: float = 30.0) -> None:
        self.server = server.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout

    def call(
        self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        url = self.server + path
        try:
            reply = self.session.request(
                method, url, json=body, params=params, timeout=self.timeout
            )
        except requests.ConnectionError:
            raise ClientError(
                f"cannot reach the server at {self.server} (is metalinit serve "
                "running there? set --server or METALINIT_SERVER)"
            ) from None
        except requests.RequestException as err:
            raise ClientError(f"{method} {url}: {err}") from None
        try:
            data = reply.json()
        except ValueError:
            data = None
        if reply.status_code >= 400:
            problem = wire.Problem.from_json(data if isinstance(data, dict) else {})
            detail = problem.detail if isinstance(data, dict) else reply.text[:200].strip()
            raise ClientError(
                detail or f"HTTP {reply.status_code}", reply.status_code, problem.code
            )
        if data is None:
            raise ClientError(f"{method} {url}: the server's answer is not JSON")
        return data

    # hardware
    def put_hardware(self, name: str, **fields: Any) -> Any:
        return self.call("PUT", f"/api/v1/hardware/{_q(name)}", fields)

    def hardware(self, key: str) -> Any:
        return self.call("GET", f"/api/v1/hardware/{_q(key)}")

    def hardware_list(self) -> Any:
        return self.call("GET", "/api/v1/hardware")

    def remove_hardware(self, key: str) -> Any:
        return self.call("DELETE", f"/api/v1/hardware/{_q(key)}")

    def set_netboot(self, key: str, allow: bool) -> Any:
        return self.call("PUT", f"/api/v1/hardware/{_q(key)}/netboot", {"allow": allow})

    def unknown(self) -> Any:
        return self.call("GET", "/api/v1/unknown")

    # templates
    def add_template(self, data: str, name: str | None = None) -> Any:
        return self.call("POST", "/api/v1/templates", {"data": data, "name": name})

    def templates(self) -> Any:
        return self.call("GET", "/api/v1/templates")

    def template(self, name: str) -> Any:
        return self.call("GET", f"/api/v1/templates/{_q(name)}")

    def remove_template(self, name: str) -> Any:
        return self.call("DELETE", f"/api/v1/templates/{_q(name)}")

    def apply(self, text: str) -> Any:
        return self.call("POST", "/api/v1/apply", {"yaml": text})

    # workflows
    def create_workflow(
        self,
        template: str,
        hardware_map: dict[str, str],
        *,
        hardware: str | None = None,
        name: str | None = None,
        toggle_allow_netboot: bool = True,
    ) -> Any:
        return self.call(
            "POST",
            "/api/v1/workflows",
            {
                "template": template,
                "hardware_map": hardware_map,
                "hardware": hardware,
                "name": name,
                "toggle_allow_netboot": toggle_allow_netboot,
            },
        )

    def workflows(self) -> Any:
        return self.call("GET", "/api/v1/workflows")

    def workflow(self, key: str) -> Any:
        return self.call("GET", f"/api/v1/workflows/{_q(key)}")

    def remove_workflow(self, key: str) -> Any:
        return self.call("DELETE", f"/api/v1/workflows/{_q(key)}")

    def retry(self, key: str, from_action: str | None = None) -> Any:
        return self.call("POST", f"/api/v1/workflows/{_q(key)}/retry", {"from_action": from_action})

    def logs(self, key: str, action: str | None = None, offset: int = 0) -> Any:
        params: dict[str, Any] = {"offset": offset}
        if action:
            params["action"] = action
        return self.call("GET", f"/api/v1/workflows/{_q(key)}/logs", params=params)

    def all_logs(self, key: str, action: str | None = None) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = []
        offset: int | None = 0
        while offset is not None:
            page = self.logs(key, action, offset)
            lines.extend(page["lines"])
            offset = page["next_offset"]
        return lines
