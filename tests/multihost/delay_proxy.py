"""A latency line: a TCP proxy that hands each chunk on a delay after it came.

The delay (seconds) is read from ``--delay-file`` at most every half second, so a
case can start its workers on a fast line and then slow it down.

This kernel has no netem qdisc, so latency between hosts is made here. Each
direction is a queue: a chunk is written when its own delay is up, not after
the chunk before it plus a delay, so the line adds latency without cutting
bandwidth (as a long link would).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from pathlib import Path


class Delay:
    def __init__(self, path: Path) -> None:
        self.path, self.value, self.read_at = path, 0.0, 0.0

    def __call__(self) -> float:
        now = time.monotonic()
        if now - self.read_at > 0.5:
            self.read_at = now
            try:
                self.value = float(self.path.read_text() or 0)
            except (FileNotFoundError, ValueError):
                self.value = 0.0
        return self.value


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: Delay) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, chunk = await queue.get()
            if not chunk:
                break
            await asyncio.sleep(max(0.0, due - loop.time()))
            writer.write(chunk)
            await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()

    sender = asyncio.create_task(deliver())
    try:
        while chunk := await reader.read(65536):
            queue.put_nowait((loop.time() + delay(), chunk))
    except OSError:
        pass
    finally:
        queue.put_nowait((loop.time() + delay(), b""))
        with contextlib.suppress(OSError):
            await sender


async def _serve(listen: str, port: int, target: str, target_port: int, delay: Delay) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(target, target_port)
        except OSError:
            client_w.close()
            return
        try:
            await asyncio.gather(_pipe(client_r, server_w, delay), _pipe(server_r, client_w, delay))
        finally:
            for w in (client_w, server_w):
                w.close()

    server = await asyncio.start_server(handle, listen, port)
    async with server:
        await server.serve_forever()


async def _main(listen: str, routes: list[str], delay: Delay) -> None:
    tasks = []
    for route in routes:
        port, target, target_port = route.split(":")
        tasks.append(_serve(listen, int(port), target, int(target_port), delay))
    started = asyncio.gather(*tasks)
    await asyncio.sleep(0.2)
    print(f"listening on {listen} for {routes}", flush=True)
    await started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--delay-file", type=Path, required=True)
    parser.add_argument("routes", nargs="+", help="PORT:TARGET_HOST:TARGET_PORT")
    args = parser.parse_args()
    asyncio.run(_main(args.listen, args.routes, Delay(args.delay_file)))


if __name__ == "__main__":
    main()
