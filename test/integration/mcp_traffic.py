# SPDX-License-Identifier: Apache-2.0
"""The MCP traffic bluepython recorded in a spool (python_mcp_event, see
docs/events.md), as the MCP tests read it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from conftest import attrs_of

SERVER, CLIENT = 0, 1  # an event's `source`: the side that sent the message

# A request event -> the event of its response, on the same side.
RESPONSE_OF = {
    "server_received_request": "server_send_response",
    "server_send_request": "server_received_response",
    "client_send_request": "client_received_response",
    "client_received_request": "client_send_response",
}


def message_events(events: list[dict[str, Any]], event: str | None = None) -> list[dict[str, Any]]:
    """The members of each python_mcp_event, or only of those whose `event` is `event`."""
    out = attrs_of(events, "python_mcp_event")
    return out if event is None else [m for m in out if m["event"] == event]


@dataclass(frozen=True)
class Message:
    """One JSON-RPC message as bluepython reported it."""

    direction: str  # "in" (received by the reporting side) or "out" (sent)
    kind: str  # "request", "notification", "response" or "unknown"
    method: str | None
    id: Any
    session_id: Any
    source: Any
    event: str
    raw: dict[str, Any] = field(compare=False, hash=False, repr=False)


def _kind(message: dict[str, Any], event: str) -> str:
    if "method" in message:
        return "request" if "id" in message else "notification"
    if "result" in message or "error" in message:
        return "response"
    for kind in ("request", "notification", "response"):
        if kind in event:
            return kind
    return "unknown"


def mcp_messages(events: list[dict[str, Any]], *, source: int | None = None) -> list[Message]:
    """The python_mcp_event events of `events`, optionally only one side's
    (`source`: 0 server, 1 client)."""
    out = []
    for a in message_events(events):
        if source is not None and a.get("source") != source:
            continue
        message = a.get("message") if isinstance(a.get("message"), dict) else {}
        event = str(a.get("event", ""))
        direction = "in" if "receiv" in event else "out"
        kind = _kind(message, event)
        method = message.get("method", a.get("method") if kind != "response" else None)
        out.append(
            Message(
                direction,
                kind,
                method,
                message.get("id", a.get("id")),
                a.get("session_id"),
                a.get("source"),
                event,
                a,
            )
        )
    return out


def describe(counter: Any, limit: int = 25) -> str:
    items = sorted(counter.items(), key=lambda kv: json.dumps(kv[0], default=str))
    text = ", ".join(f"{key}x{n}" if n != 1 else str(key) for key, n in items[:limit])
    return text + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")
