"""Pre-framed WebSocket writes for the live fan-out, under daphne.

Why: a live message goes to every subscriber of its symbol, a thousand or more at once.
Through ASGI, each copy costs daphne's ``handle_reply``, autobahn's framing and logging,
and Twisted's buffered write, which registers the socket with the event loop and
unregisters it again on the next iteration. Profiled at 1,000 clients x 10 msg/s, that
was about 80 us per copy, most of the server's CPU, and the latency it queued up missed
the fan-out target (README, "Live fan-out"). A bare asyncio server writes the frame to
the socket at once.

What: ``live_hub`` frames each message once (``text_frame``, built by autobahn's
``PreparedMessage``, the library's own broadcast helper). For each connection, a
``DirectSender`` writes that frame straight to the socket when nothing is waiting in
Twisted's buffer, and hands it to Twisted's ``transport.write`` otherwise (the rest of a
partial send included), so frames never overtake each other and a slow client never
blocks the loop.

Where it applies: only to a plain TCP daphne connection in the open state, without
per-message compression (daphne does not offer it) and with nothing queued by autobahn.
``direct_sender`` returns ``None`` for anything else (another ASGI server, TLS terminated
by daphne, tests' in-memory communicators) and the caller keeps the ASGI ``send``.
``send`` re-checks the state on each frame and reports ``False`` when the caller must
use ASGI instead. It relies on daphne passing ``partial(Server.handle_reply, protocol)``
as the ASGI ``send`` and on Twisted's ``tcp.Connection`` buffer attributes, both pinned
in requirements.txt; ``tests/test_ws_direct.py`` runs a real daphne and fails
if either changes.
"""

from __future__ import annotations

from functools import partial

from autobahn.websocket.protocol import PreparedMessage, WebSocketProtocol
from twisted.internet.tcp import Connection

OPEN = WebSocketProtocol.STATE_OPEN


def text_frame(payload: bytes) -> bytes:
    """One unmasked, uncompressed server-to-client text frame carrying ``payload`` (UTF-8)."""
    return PreparedMessage(payload, False, False, True).payloadHybi


class DirectSender:
    """Writes pre-framed messages to one daphne WebSocket connection."""

    __slots__ = ("protocol",)

    def __init__(self, protocol: WebSocketProtocol):
        self.protocol = protocol

    def send(self, frame: bytes) -> bool:
        """Write ``frame``; ``False`` means "not sent, use the ASGI send"."""
        protocol = self.protocol
        transport = protocol.transport
        if (
            protocol.state != OPEN
            or protocol._perMessageCompress is not None
            or protocol.send_queue
            or not isinstance(transport, Connection)
        ):
            return False
        if not transport.connected or transport.disconnecting:
            return True  # closing: Twisted would drop the write too
        if transport.dataBuffer or transport._tempDataBuffer:
            transport.write(frame)  # behind what is already waiting
            return True
        try:
            sent = transport.socket.send(frame)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:  # reset or broken pipe: Twisted's write path reports the loss
            sent = 0
        if sent < len(frame):
            transport.write(frame[sent:])
        return True


def direct_sender(send) -> DirectSender | None:
    """A ``DirectSender`` for the connection behind an ASGI ``send``, when daphne serves
    it over plain TCP; ``None`` otherwise."""
    if not isinstance(send, partial) or len(send.args) != 1:
        return None
    protocol = send.args[0]
    if not isinstance(protocol, WebSocketProtocol) or not isinstance(
        protocol.transport, Connection
    ):
        return None
    return DirectSender(protocol)
