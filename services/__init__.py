"""REON services: one package per supervised process."""

from station import asyncio_tls

asyncio_tls.apply()  # first thing any service program runs: asyncio without ssl where its program asks for it
