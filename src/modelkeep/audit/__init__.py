"""Audits of a model and its data: membership inference (privacy), personal data (PII), and
the security of its package (integrity, signatures, unsafe serialisation, pinned
requirements).

Example:
    >>> from modelkeep.audit import scan_pii
    >>> import pandas as pd
    >>> [f.kind for f in scan_pii(pd.DataFrame({"contact": ["ann@example.com"]})).findings]
    ['email']
"""

from __future__ import annotations

from modelkeep.audit.pii import PiiFinding, PiiReport, scan_pii
from modelkeep.audit.privacy import PrivacyReport, privacy_audit
from modelkeep.audit.security import SecurityCheck, SecurityReport, security_audit

__all__ = [
    "PiiFinding",
    "PiiReport",
    "PrivacyReport",
    "SecurityCheck",
    "SecurityReport",
    "privacy_audit",
    "scan_pii",
    "security_audit",
]
