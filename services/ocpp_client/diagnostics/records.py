"""What the customer-information block may read and clear, as narrow callables the service assembly fills in
(the authorization, transaction and reservation blocks own the tables; this block imports none of them).

Transactions have a finder and no clearer on purpose: a transaction record is the operator's billing data
and, until the CSMS has it, the station's only copy (it is never cleared here). The Local Authorization List
is reported but not cleared either: the CSMS manages it (SendLocalList), N10 clears "all but the local list".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

IdToken = Mapping[str, Any]


def _none(_: Any) -> None:
    return None


def _nothing(_: Any) -> list[Any]:
    return []


def _no_tokens() -> list[dict[str, Any]]:
    return []


@dataclass(frozen=True)
class CustomerRecords:
    """Access to the station's data about a customer; every field is a plain (non-async) callable."""

    #: Authorization Cache entry (its idTokenInfo) of this idToken, or None; and its removal (True if removed).
    find_cache_entry: Callable[[IdToken], dict[str, Any] | None] = _none
    clear_cache_entry: Callable[[IdToken], bool] = lambda _: False
    #: Local Authorization List entry (its idTokenInfo) of this idToken, or None. Read only.
    find_local_entry: Callable[[IdToken], dict[str, Any] | None] = _none
    #: Stored transaction records naming this idToken: [{"transaction_id", "evse_id", "state"}]. Read only.
    find_transactions: Callable[[IdToken], list[dict[str, Any]]] = _nothing
    #: Reservations made for this idToken: [{"reservation_id", "evse_id", "expires_at"}]; and their removal
    #: (count removed; the reservation block sends ReservationStatusUpdate Removed).
    find_reservations: Callable[[IdToken], list[dict[str, Any]]] = _nothing
    clear_reservations: Callable[[IdToken], int] = lambda _: 0
    #: Every idToken the station holds (cache, local list, transactions, reservations), to resolve a
    #: customerIdentifier (an idToken value or an additionalIdToken).
    known_tokens: Callable[[], list[dict[str, Any]]] = _no_tokens
    #: A customer (contract) certificate by CertificateHashData: a description, or None; and its removal.
    find_certificate: Callable[[Mapping[str, Any]], str | None] = _none
    clear_certificate: Callable[[Mapping[str, Any]], bool] = lambda _: False


def names_customer(identifier: str, id_token: IdToken) -> bool:
    """Whether a customerIdentifier names this idToken: its idToken value or one of its additionalIdTokens."""
    if str(id_token.get("idToken", "")) == identifier:
        return True
    extra = id_token.get("additionalInfo") or []
    return any(isinstance(info, Mapping) and info.get("additionalIdToken") == identifier for info in extra)
