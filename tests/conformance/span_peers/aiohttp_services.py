#!/usr/bin/python3
"""Front and back services on Python asyncio (python3-aiohttp) for the span-link suite: one
event-loop thread serves every request at once; the front calls the back through one keep-alive
ClientSession; no trace headers.

    aiohttp_services.py back          GET /items/<id>: 200 after 0-15 ms
    aiohttp_services.py front PORT    GET /api/orders/<id>: GET /items/<id> on the back, then 200

Each prints "ready <port>" and exits when stdin closes.
"""
import asyncio
import random
import sys

from aiohttp import ClientSession, TCPConnector, web


async def main(mode, back_port):
    app = web.Application()
    session = None
    if mode == "back":
        async def item(request):
            await asyncio.sleep(random.random() * 0.015)
            return web.Response(text="back " + request.path + "\n")
        app.router.add_get("/items/{id}", item)
    else:
        session = ClientSession(connector=TCPConnector(limit=10))

        async def order(request):
            url = f"http://127.0.0.1:{back_port}/items/{request.match_info['id']}"
            async with session.get(url) as r:
                await r.read()
                return web.Response(status=200 if r.status == 200 else 502, text="front\n")
        app.router.add_get("/api/orders/{id}", order)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print("ready", site._server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    if session:
        await session.close()
    await runner.cleanup()


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("back", "front") or \
            (sys.argv[1] == "front" and len(sys.argv) != 3):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) == 3 else 0))
