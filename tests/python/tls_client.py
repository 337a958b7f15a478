"""The Python `websockets` client against the echo example over TLS (wss://).

    python tls_client.py URL CA_PEM [CLIENTS [deflate]]

Connects with an ssl context that trusts only CA_PEM (the test CA of tests/tls/) and checks
the hostname, as a real client would. Checks, each an assertion that names what differed:
  1. echo round trips of a text, a binary and a 1 MiB binary message on one connection;
  2. a clean close: the client closes with code 4001 and a reason, and sees the server's
     close frame answer with the same code (the server's side is in its log, which the
     calling script checks after the server stops);
  3. CLIENTS (default 200) connections open at once, each echoing 5 messages of its own,
     so replies that went to the wrong connection or were lost show up;
  4. a client that trusts only the system's CAs refuses the server: the TLS is real.
With `deflate` (the server runs with --deflate), every connection must have negotiated
permessage-deflate, which `websockets` offers by default and uses for every message it
sends: the echoes above then go compressed both ways.
Exits non-zero on the first failure, with the error on stderr.
"""

import asyncio
import os
import ssl
import sys

from websockets.asyncio.client import connect

CLOSE_CODE = 4001
CLOSE_REASON = "python-tls-bye"
DEFLATE = False


def check_extensions(ws):
    names = [e.name for e in ws.protocol.extensions]
    want = ["permessage-deflate"] if DEFLATE else []
    assert names == want, "extensions negotiated: %r, not %r" % (names, want)


async def round_trips(url, ctx):
    async with connect(url, ssl=ctx, max_size=2 << 20) as ws:
        assert ws.protocol.state.name == "OPEN"
        check_extensions(ws)
        await ws.send("héllo over TLS")
        got = await ws.recv()
        assert got == "héllo over TLS", "text echo: %r" % got
        await ws.send(b"\x00\x01\xfe\xff")
        got = await ws.recv()
        assert got == b"\x00\x01\xfe\xff", "binary echo: %r" % got
        big = os.urandom(1 << 20)
        await ws.send(big)
        got = await ws.recv()
        assert got == big, "1 MiB echo: %d bytes back, equal: %s" % (len(got), got == big)
        # Text that compresses, above the server's 1 KiB threshold.
        text = "le même texte, encore et encore; " * 1000
        await ws.send(text)
        got = await ws.recv()
        assert got == text, "compressible text echo: %d characters back" % len(got)
        await ws.close(CLOSE_CODE, CLOSE_REASON)
        # The close code the server's close frame carried (RFC 6455 5.5.1: it echoes ours).
        assert ws.close_code == CLOSE_CODE, "close code seen by the client: %r" % ws.close_code
        assert ws.close_reason == CLOSE_REASON, "close reason: %r" % ws.close_reason
    extensions = " with permessage-deflate" if DEFLATE else ""
    print("tls_client: text, binary, 1 MiB and 33 KB of text echoed%s; closed with %d both ways"
          % (extensions, CLOSE_CODE))


async def one_client(url, ctx, n):
    async with connect(url, ssl=ctx) as ws:
        check_extensions(ws)
        for i in range(5):
            payload = "client %d message %d" % (n, i)
            await ws.send(payload)
            got = await ws.recv()
            assert got == payload, "client %d got %r for %r" % (n, got, payload)


async def many(url, ctx, clients):
    results = await asyncio.gather(
        *(one_client(url, ctx, n) for n in range(clients)), return_exceptions=True
    )
    failed = [r for r in results if isinstance(r, BaseException)]
    assert not failed, "%d of %d clients failed; first: %r" % (len(failed), clients, failed[0])
    print("tls_client: %d concurrent clients echoed 5 messages each" % clients)


async def untrusted(url):
    try:
        async with connect(url, ssl=ssl.create_default_context()):
            pass
    except ssl.SSLCertVerificationError:
        print("tls_client: a client trusting only the system's CAs refused the test certificate")
        return
    raise AssertionError("a client without the test CA connected")


def main():
    url, ca = sys.argv[1], sys.argv[2]
    clients = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    global DEFLATE
    DEFLATE = sys.argv[4:5] == ["deflate"]
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    asyncio.run(round_trips(url, ctx))
    asyncio.run(many(url, ctx, clients))
    asyncio.run(untrusted(url))


if __name__ == "__main__":
    main()
