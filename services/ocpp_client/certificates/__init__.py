"""OCPP certificate management (M03, M04, M05), station certificate renewal (A02, A03), network connection
profiles and security-profile upgrades (B09, B10, A05)."""
