"""CustomerInformation (N09 report, N10 clear): one customer, named by exactly one of idToken,
customerCertificate or customerIdentifier.

The answer comes first: Invalid when the request names nobody or more than one, or asks neither report nor
clear (nothing changes, nothing is sent, TC_N_29); otherwise Accepted, and once the response is on the wire
the NotifyCustomerInformation pages follow (seqNo from 0, tbc on every page but the last, one generatedAt,
the request's requestId; data ≤ 512 characters a page):
- report: what the station holds — authorization cache entry, local list entry, stored transactions,
  reservations (N09.FR.02/05); "No data found" when there is none (N09.FR.06, N10.FR.04);
- clear: what may be cleared is cleared before the response (N10.FR.01): the cache entry, the reservations,
  a customer certificate; never a transaction record, never the Local Authorization List (the CSMS's). With
  report false one page says what was cleared (N10.FR.06). The report lists what was held before clearing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from services.ocpp_client.diagnostics.records import CustomerRecords, names_customer
from services.ocpp_client.link.rpc import Reply

log = logging.getLogger("reon.ocpp.customer_info")

DATA_MAX_CHARS = 512  # NotifyCustomerInformationRequest.data maxLength
Send = Callable[[str, dict[str, Any]], Any]
NO_DATA = "No data found"


class CustomerInformation:
    """The CustomerInformation handler and its NotifyCustomerInformation pages."""

    def __init__(self, records: CustomerRecords, *, send: Send, now: Callable[[], datetime]) -> None:
        self.records = records
        self._send = send
        self._now = now

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return {"CustomerInformation": self.customer_information}

    async def customer_information(self, request: dict[str, Any]) -> Reply:
        named = [key for key in ("idToken", "customerCertificate", "customerIdentifier")
                 if request.get(key) not in (None, "")]
        if len(named) != 1 or not (request["report"] or request["clear"]):
            reason = "MissingParam" if not named else "InvalidValue"
            log.warning("CustomerInformation %s: Invalid (names %s, report %s, clear %s)", request["requestId"],
                        ", ".join(named) or "nobody", request["report"], request["clear"])
            return Reply({"status": "Invalid", "statusInfo": {"reasonCode": reason}})
        tokens, certificate, label = self._customer(request, named[0])
        lines = self._held(tokens, certificate) if request["report"] else []
        cleared = self._clear(tokens, certificate) if request["clear"] else []
        if not request["report"]:
            lines = [f"Cleared for {label}: {', '.join(cleared)}" if cleared else f"{NO_DATA} to clear for {label}"]
        elif not lines:
            lines = [f"{NO_DATA} for {label}"]
        log.info("CustomerInformation %s for %s: %d item(s) reported, cleared: %s", request["requestId"], label,
                 len(lines), ", ".join(cleared) or "nothing")
        pages = paginate(lines)
        request_id = int(request["requestId"])

        async def notify() -> None:
            await self._send_pages(request_id, pages)

        return Reply({"status": "Accepted"}, after_sent=notify)

    # ---- who -------------------------------------------------------------------------------------

    def _customer(self, request: Mapping[str, Any], key: str
                  ) -> tuple[list[Mapping[str, Any]], Mapping[str, Any] | None, str]:
        """The idTokens (and certificate) the request names, and a label for the texts."""
        if key == "idToken":
            token = request["idToken"]
            return [token], None, f"idToken {token.get('type')}:{token.get('idToken')}"
        if key == "customerCertificate":
            cert = request["customerCertificate"]
            return [], cert, f"certificate serial {cert.get('serialNumber')}"
        identifier = str(request["customerIdentifier"])
        tokens: list[Mapping[str, Any]] = []
        for token in self.records.known_tokens():
            if names_customer(identifier, token) and not any(_same(token, t) for t in tokens):
                tokens.append(token)
        return tokens, None, f"customerIdentifier {identifier}"

    # ---- what -----------------------------------------------------------------------------------

    def _held(self, tokens: list[Mapping[str, Any]], certificate: Mapping[str, Any] | None) -> list[str]:
        lines: list[str] = []
        for token in tokens:
            name = f"{token.get('type')}:{token.get('idToken')}"
            cached = self.records.find_cache_entry(token)
            if cached is not None:
                lines.append(f"AuthorizationCache {name}: {_info(cached)}")
            listed = self.records.find_local_entry(token)
            if listed is not None:
                lines.append(f"LocalAuthorizationList {name}: {_info(listed)}")
            for tx in self.records.find_transactions(token):
                lines.append(f"Transaction {tx.get('transaction_id')} {name} on EVSE {tx.get('evse_id')}:"
                             f" {tx.get('state', 'stored')}")
            for reservation in self.records.find_reservations(token):
                where = reservation.get("evse_id")
                lines.append(f"Reservation {reservation.get('reservation_id')} {name} on "
                             f"{'EVSE ' + str(where) if where is not None else 'any EVSE'} until "
                             f"{reservation.get('expires_at')}")
        if certificate is not None:
            described = self.records.find_certificate(certificate)
            if described is not None:
                lines.append(f"Certificate: {described}")
        return lines

    def _clear(self, tokens: list[Mapping[str, Any]], certificate: Mapping[str, Any] | None) -> list[str]:
        cleared: list[str] = []
        for token in tokens:
            name = f"{token.get('type')}:{token.get('idToken')}"
            if self.records.clear_cache_entry(token):
                cleared.append(f"authorization cache entry {name}")
            removed = self.records.clear_reservations(token)
            if removed:
                cleared.append(f"{removed} reservation(s) of {name}")
        if certificate is not None and self.records.clear_certificate(certificate):
            cleared.append("customer certificate")
        return cleared

    # ---- pages ----------------------------------------------------------------------------------

    async def _send_pages(self, request_id: int, pages: list[str]) -> None:
        generated_at = self._now().isoformat().replace("+00:00", "Z")
        for seq_no, data in enumerate(pages):
            payload = {"data": data, "tbc": seq_no < len(pages) - 1, "seqNo": seq_no,
                       "generatedAt": generated_at, "requestId": request_id}
            if await self._send("NotifyCustomerInformation", payload) is None:
                log.warning("NotifyCustomerInformation %d page %d not delivered: the rest is not sent",
                            request_id, seq_no)
                return


def paginate(lines: list[str], max_chars: int = DATA_MAX_CHARS) -> list[str]:
    """Join lines with newlines into pages of at most max_chars; a longer line is cut across pages."""
    pages: list[str] = []
    current = ""
    for line in lines:
        while len(line) > max_chars:
            if current:
                pages.append(current)
                current = ""
            pages.append(line[:max_chars])
            line = line[max_chars:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > max_chars:
            pages.append(current)
            candidate = line
        current = candidate
    if current or not pages:
        pages.append(current)
    return pages


def _info(id_token_info: Mapping[str, Any]) -> str:
    parts = [f"status {id_token_info.get('status')}"]
    for key in ("cacheExpiryDateTime", "groupIdToken", "language1"):
        if id_token_info.get(key):
            value = id_token_info[key]
            parts.append(f"{key} {value.get('idToken') if isinstance(value, Mapping) else value}")
    return ", ".join(parts)


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return (a.get("idToken"), a.get("type")) == (b.get("idToken"), b.get("type"))
