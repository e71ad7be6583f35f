"""`metalinit demo`, the README's main job: a container image becomes a disk, our kernel and
initramfs boot it in QEMU, and the host fetches the page its nginx serves.

1. `metalinit build`: out/vmlinuz and out/initramfs.cpio.zst (the pinned Debian kernel);
2. an nginx image from Debian's nginx-light (debootstrap + umoci, cached: no registry needed);
3. `img-from-container oci:LAYOUT:TAG -o out/nginx.img`;
4. `metalinit boot --disk out/nginx.img --net user --forward PORT:80` and an HTTP GET of
   http://127.0.0.1:PORT/ from the host.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from initramfs.build import Options, build
from initramfs.qemu import BootSpec, Guest, choose_accel

PAGE_SECONDS = 600


def step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def fetch_page(url: str, guest: Guest, seconds: float) -> str | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and guest.running:
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                return str(reply.read().decode(errors="replace"))
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(1)
    return None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="metalinit demo", description=__doc__)
    parser.add_argument("--port", type=int, default=8080, help="host port for the guest's :80")
    parser.add_argument("--out", type=Path, default=Path("out"))
    parser.add_argument("--keep-running", action="store_true", help="leave the guest running")
    args = parser.parse_args(argv)

    step("1/4 metalinit build (kernel + initramfs)")
    built = build(Options(out=args.out))
    print(f"{built.vmlinuz}, {built.initramfs} ({built.compressed / 1e6:.1f} MB)")

    step("2/4 example image: Debian nginx-light as an OCI layout (debootstrap + umoci, cached)")
    from rootfs_tools.example import nginx_layout

    layout, tag = nginx_layout()
    print(layout)

    step(f"3/4 img-from-container oci:{layout}:{tag} -o {args.out}/nginx.img")
    disk = args.out / "nginx.img"
    tool = Path(sys.executable).with_name("img-from-container")
    subprocess.run([str(tool), f"oci:{layout}:{tag}", "-o", str(disk)], check=True)

    step(f"4/4 metalinit boot --disk {disk} --net user --forward {args.port}:80")
    spec = BootSpec(
        built.vmlinuz,
        built.initramfs,
        disk,
        append="root=/dev/vda ip=dhcp metalinit.on_exit=poweroff",
        net="user",
        forwards=((args.port, 80),),
        accel=choose_accel(built.vmlinuz),
    )
    with Guest(spec, on_line=lambda line: print(f"  | {line}", flush=True)) as guest:
        url = f"http://127.0.0.1:{args.port}/"
        page = fetch_page(url, guest, PAGE_SECONDS)
        if page is None:
            print(f"metalinit demo: no page at {url} (see the console above)", file=sys.stderr)
            return 1
        title = re.search(r"<title>(.*?)</title>", page)
        step(f"GET {url} from the host: {title.group(1) if title else page[:80]!r}")
        print(f"demo passed in {time.monotonic() - guest.started:.0f} s after QEMU started")
        if args.keep_running:
            print("the guest keeps running; ctrl-c ends it")
            guest.wait(10**9)
    return 0
