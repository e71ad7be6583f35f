"""A registry client for the distribution API v2 (and OCI distribution), over requests.

`/v2/` probe; on 401 the challenge decides: Bearer → token from the realm (anonymous, or
with basic credentials), Basic → `--user` or `~/.docker/config.json`. Manifests are asked
for with all four media types. Redirects are followed by hand so that Authorization never
goes to another host. 429/5xx/connection resets are retried with back-off; a broken blob
download resumes with Range.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from rootfs_tools import manifest as mf
from rootfs_tools.blobcache import BlobCache
from rootfs_tools.errors import AuthError, NotFoundError, RootfsToolsError
from rootfs_tools.reference import DEFAULT_DOMAIN, Reference

DOCKER_HUB = "https://registry-1.docker.io"
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
ATTEMPTS = 6
BACKOFF = 0.25  # seconds, doubled each retry, capped at 8
TIMEOUT = (10, 60)
CHUNK = 64 << 10  # small: a cut-off read loses at most one chunk before the Range resume
NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)
_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Settings:
    mirrors: dict[str, str] = field(default_factory=dict)  # domain → base URL
    insecure: frozenset[str] = frozenset()  # hosts that may use plain http
    user: str = ""  # USER:PASSWORD
    retry_pause: float = BACKOFF


def _local(host: str) -> bool:
    name = urlsplit(f"//{host}").hostname or ""
    return name == "localhost" or name.startswith("127.") or name == "::1"


def docker_credentials(domain: str) -> str:
    """USER:PASSWORD for domain from ~/.docker/config.json ($DOCKER_CONFIG), or ''."""
    folder = os.environ.get("DOCKER_CONFIG") or os.path.join(Path.home(), ".docker")
    try:
        auths = json.loads(Path(folder, "config.json").read_text()).get("auths", {})
    except (OSError, ValueError):
        return ""
    keys = [domain, f"https://{domain}", f"http://{domain}"]
    keys += [DOCKER_HUB_AUTH_KEY, "index.docker.io"] if domain == DEFAULT_DOMAIN else []
    for key in keys:
        entry = auths.get(key) or auths.get(key + "/")
        if isinstance(entry, dict):
            if entry.get("auth"):
                return base64.b64decode(entry["auth"]).decode()
            if entry.get("username"):
                return f"{entry['username']}:{entry.get('password', '')}"
    return ""


class Registry:
    def __init__(self, ref: Reference, settings: Settings) -> None:
        self.ref, self.settings = ref, settings
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "metalinit-img-from-container"
        self.user = settings.user or docker_credentials(ref.domain)
        self._auth = ""
        self._lock = threading.Lock()
        mirror = settings.mirrors.get(ref.domain)
        if mirror:
            self.base = mirror.rstrip("/")
        elif ref.domain == DEFAULT_DOMAIN:
            self.base = DOCKER_HUB
        else:
            self.base = f"https://{ref.domain}"
        self.insecure = _local(urlsplit(self.base).netloc) or ref.domain in settings.insecure
        if ref.domain in settings.insecure:
            # As Docker's insecure-registries: https without verification, then plain http.
            self.session.verify = False
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

    def where(self) -> str:
        return f"registry {self.base}, repository {self.ref.path}"

    # --- transport -------------------------------------------------------------------
    def _send(self, url: str, headers: dict[str, str], stream: bool) -> requests.Response:
        """One GET with manual redirects; Authorization only to our own host."""
        host = urlsplit(self.base).netloc
        for _ in range(10):
            send = dict(headers)
            if self._auth and urlsplit(url).netloc == host:
                send["Authorization"] = self._auth
            resp = self.session.get(
                url, headers=send, stream=stream, allow_redirects=False, timeout=TIMEOUT
            )
            if resp.status_code not in REDIRECTS:
                return resp
            resp.close()
            url = urljoin(url, resp.headers.get("Location", ""))
        raise RootfsToolsError(f"{self.where()}: too many redirects")

    def get(
        self, path: str, headers: dict[str, str] | None = None, stream: bool = False, what: str = ""
    ) -> requests.Response:
        url = self.base + path
        pause = self.settings.retry_pause
        for attempt in range(ATTEMPTS):
            try:
                resp = self._send(url, headers or {}, stream)
            except requests.exceptions.SSLError:
                if not self.insecure or not self.base.startswith("https://"):
                    raise
                self.base, url = (
                    self.base.replace("https://", "http://", 1),
                    url.replace("https://", "http://", 1),
                )
                continue
            except NETWORK_ERRORS as err:
                if attempt == ATTEMPTS - 1:
                    raise RootfsToolsError(f"{self.where()}: {err}") from None
                time.sleep(min(pause * 2**attempt, 8))
                continue
            if resp.status_code == 401 and attempt < 2:
                self._authenticate(resp)
                continue
            if resp.status_code in RETRY_STATUS and attempt < ATTEMPTS - 1:
                wait = resp.headers.get("Retry-After", "")
                time.sleep(float(wait) if wait.isdigit() else min(pause * 2**attempt, 8))
                continue
            self._check(resp, what or path)
            return resp
        raise RootfsToolsError(f"{self.where()}: gave up after {ATTEMPTS} attempts")

    def _check(self, resp: requests.Response, what: str) -> None:
        code = resp.status_code
        if code in (200, 206):
            return
        detail = f"{self.where()}, {what}: HTTP {code}"
        if code == 401:
            raise AuthError(f"{detail}: authentication failed (check --user or docker login)")
        if code == 403:
            raise AuthError(f"{detail}: access denied")
        if code == 404:
            raise NotFoundError(f"{detail}: not found")
        raise RootfsToolsError(f"{detail}: {resp.text[:200]}")

    def _authenticate(self, resp: requests.Response) -> None:
        challenge = resp.headers.get("WWW-Authenticate", "")
        scheme = challenge.split(" ", 1)[0].lower()
        params = dict(_PARAM.findall(challenge))
        resp.close()
        with self._lock:
            if scheme == "basic":
                if not self.user:
                    raise AuthError(f"{self.where()}: needs credentials (--user USER:PASS)")
                self._auth = "Basic " + base64.b64encode(self.user.encode()).decode()
            elif scheme == "bearer" and params.get("realm"):
                self._auth = "Bearer " + self._token(params)
            else:
                raise AuthError(f"{self.where()}: unsupported challenge {challenge!r}")

    def _token(self, params: dict[str, str]) -> str:
        query = {"scope": params.get("scope") or f"repository:{self.ref.path}:pull"}
        if params.get("service"):
            query["service"] = params["service"]
        auth = tuple(self.user.split(":", 1)) if self.user else None
        try:
            resp = self.session.get(params["realm"], params=query, auth=auth, timeout=TIMEOUT)  # type: ignore[arg-type]
        except NETWORK_ERRORS as err:
            raise AuthError(f"{self.where()}: token service {params['realm']}: {err}") from None
        if resp.status_code != 200:
            raise AuthError(f"{self.where()}: token service said HTTP {resp.status_code}")
        body = resp.json()
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str):
            raise AuthError(f"{self.where()}: the token service sent no token")
        return token

    # --- API -------------------------------------------------------------------------
    def manifest(self, ref: str) -> tuple[bytes, str, str]:
        """(bytes, media type, digest) of the manifest or index for a tag or digest."""
        resp = self.get(
            f"/v2/{self.ref.path}/manifests/{ref}",
            {"Accept": ", ".join(mf.MANIFEST_TYPES)},
            what=f"manifest {ref}",
        )
        media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        return resp.content, media_type, resp.headers.get("Docker-Content-Digest", "")

    def blob(self, desc: mf.Descriptor, cache: BlobCache, progress: Callable[[int], None]) -> Path:
        """Download a blob into the cache (resuming with Range), unless it is there."""
        if cache.has(desc.digest, desc.size):
            progress(desc.size)
            return cache.path(desc.digest)
        writer = cache.writer(desc.digest, desc.size)
        try:
            for attempt in range(ATTEMPTS):
                headers = {"Range": f"bytes={writer.done}-"} if writer.done else {}
                resp = self.get(
                    f"/v2/{self.ref.path}/blobs/{desc.digest}",
                    headers,
                    True,
                    what=f"blob {desc.digest}",
                )
                if resp.status_code == 200 and writer.done:
                    progress(-writer.done)
                    writer.restart()
                try:
                    for chunk in resp.iter_content(CHUNK):
                        writer.write(chunk)
                        progress(len(chunk))
                except NETWORK_ERRORS:
                    time.sleep(min(self.settings.retry_pause * 2**attempt, 8))
                    continue
                return writer.commit()
        except BaseException:
            writer.abort()
            raise
        writer.abort()
        raise RootfsToolsError(f"{self.where()}: blob {desc.digest} kept breaking off")
