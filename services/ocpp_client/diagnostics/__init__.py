"""Diagnostics (functional block N): customer information, N09 (report what the station holds about one
customer) and N10 (clear it), through CustomerInformation → NotifyCustomerInformation pages. Room for the rest
of block N (GetLog, monitoring reports stay in firmware/ and monitoring/).
"""
