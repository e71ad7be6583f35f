"""`image2disk`: stream a disk image from a URL onto a disk.

The hub action's variables: IMG_URL, DEST_DISK, COMPRESSED (the decompressor named by the
URL's extension), RETRY_ENABLED, RETRY_DURATION_MINUTES (10), PROGRESS_INTERVAL_SECONDS
(3). Ours in addition: CHECKSUM (`sha256:…`, `sha512:…`, or the URL of a checksum file that
names the image), verified in the same pass; magic bytes tell the compression too; a
dropped connection resumes with Range; an image that cannot fit is refused before writing;
the new partitions are made known to the kernel. See `diskwrite` for what a failure leaves.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from agent.actions import ActionContext, ActionError, Then
from agent.actions import checksum as ck
from agent.actions.diskwrite import report, write_image
from agent.actions.envvars import flag, integer, required, text
from agent.actions.stream import Download, Retry, fetch_text, http_get
from agent.actions.target import open_target

DEFAULT_RETRY_MINUTES = 10
DEFAULT_PROGRESS_SECONDS = 3


def retry_policy(env: Mapping[str, str]) -> Retry:
    """RETRY_ENABLED keeps trying for RETRY_DURATION_MINUTES; without it, a few attempts."""
    if not flag(env, "RETRY_ENABLED"):
        return Retry()
    minutes = integer(env, "RETRY_DURATION_MINUTES", DEFAULT_RETRY_MINUTES, minimum=1)
    return Retry(seconds=minutes * 60.0)


def expected_checksum(value: str, image_url: str, ctx: ActionContext) -> ck.Expected | None:
    if not value:
        return None
    if not ck.is_url(value):
        return ck.parse_digest(value, "CHECKSUM")
    name = ck.file_name(image_url)
    found = ck.from_checksum_file(fetch_text(value, f"CHECKSUM file {value}"), name, value)
    ctx.say(f"checksum file {value}: {name} is {found}")
    return found


def run(ctx: ActionContext) -> Then | None:
    env = ctx.env
    url = required(env, "IMG_URL", "the image's http:// or https:// URL")
    if not url.startswith(("http://", "https://")):
        raise ActionError(f"IMG_URL={url!r}: expected an http:// or https:// URL")
    disk = required(env, "DEST_DISK", "the disk to write, such as /dev/sda")
    compressed = flag(env, "COMPRESSED")
    retry = retry_policy(env)
    interval = integer(env, "PROGRESS_INTERVAL_SECONDS", DEFAULT_PROGRESS_SECONDS, minimum=1)
    expected = expected_checksum(text(env, "CHECKSUM"), url, ctx)
    target = open_target(disk, "DEST_DISK")
    download = Download(url, http_get(url), retry=retry, cancelled=ctx.cancelled, say=ctx.say)
    try:
        written = write_image(
            ctx,
            download,
            target,
            name_path=urlsplit(url).path,
            compressed=compressed,
            expected=expected,
            interval=interval,
        )
        report(ctx, written, target)
    finally:
        download.close()
        target.close()
    return None
