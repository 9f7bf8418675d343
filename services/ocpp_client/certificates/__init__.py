"""Certificate management (functional blocks A02-A03 and M): SignCertificate, CertificateSigned,
InstallCertificate, GetInstalledCertificateIds, DeleteCertificate. Room for the certificates issue.
"""
