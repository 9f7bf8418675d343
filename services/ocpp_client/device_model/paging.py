"""Report entries → pages whose CALL frames respect ItemsPerMessage and BytesPerMessage exactly.

A page's size is measured on the OCPP-J CALL frame as REON sends it (`[2,"<uuid4>","Action",{payload}]`,
compact JSON, UTF-8), with the page's real seqNo and tbc counted as `false` (its longer spelling), so every
frame is at most `max_bytes` and a page is closed only when the next entry would not fit (at most one byte
early on a page with tbc true). An entry that cannot fit even alone is left out and counted in
`Pages.left_out` (the caller logs it); nothing else is dropped. Used for NotifyReport (B07/B08, reports.py)
and NotifyMonitoringReport (N02, monitoring/reporting.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

MESSAGE_ID_CHARS = 36  # uuid4 text, as rpc.py numbers CALLs
Payload = dict[str, Any]
MakePayload = Callable[[int, bool, list[Payload]], Payload]  # (seqNo, tbc, entries) → payload


@dataclass(frozen=True)
class Pages:
    payloads: list[Payload]
    left_out: int = 0


def frame_bytes(action: str, payload: Payload) -> int:
    """Bytes of the CALL frame carrying `payload`."""
    frame = [2, "x" * MESSAGE_ID_CHARS, action, payload]
    return len(json.dumps(frame, separators=(",", ":"), ensure_ascii=False).encode())


def _entry_bytes(entry: Payload) -> int:
    return len(json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode())


def split_pages(action: str, entries: Sequence[Payload], make_payload: MakePayload, *, max_items: int,
                max_bytes: int) -> Pages:
    """Pages in order, seqNo from 0, tbc true on all but the last (none at all when there are no entries)."""
    max_items = max(1, max_items)
    pages: list[list[Payload]] = []
    page: list[Payload] = []
    page_bytes = 0
    left_out = 0
    for entry in entries:
        size = _entry_bytes(entry)
        empty_bytes = frame_bytes(action, make_payload(len(pages), False, []))
        if empty_bytes + size > max_bytes:
            left_out += 1
            continue
        if page and (len(page) >= max_items or empty_bytes + page_bytes + 1 + size > max_bytes):
            pages.append(page)
            page, page_bytes = [], 0
            empty_bytes = frame_bytes(action, make_payload(len(pages), False, []))
        page_bytes += size + (1 if page else 0)
        page.append(entry)
    if page:
        pages.append(page)
    last = len(pages) - 1
    payloads = [make_payload(seq_no, seq_no < last, items) for seq_no, items in enumerate(pages)]
    return Pages(payloads, left_out)


def notify_report_pages(request_id: int, generated_at: str, report_data: Sequence[Payload], *, max_items: int,
                        max_bytes: int) -> Pages:
    """NotifyReportRequest payloads (B07/B08) for these reportData entries, exact to the limits."""
    def payload(seq_no: int, tbc: bool, items: list[Payload]) -> Payload:
        return {"requestId": request_id, "generatedAt": generated_at, "seqNo": seq_no, "tbc": tbc,
                "reportData": items}

    return split_pages("NotifyReport", report_data, payload, max_items=max_items, max_bytes=max_bytes)
