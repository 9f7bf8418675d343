"""Customer information (functional block N, N09/N10): what the station holds about one customer, reported
and/or cleared on the CSMS's request (CustomerInformation → NotifyCustomerInformation pages).
"""
