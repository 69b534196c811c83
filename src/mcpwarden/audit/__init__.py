"""The tamper-evident audit log: writer, verifier and query. The record format is in docs/audit.md.

    log = AuditLog.open(options)          # or AuditLog.disabled()
    log.append({"event": "call", ...})    # adds v, seq, ts, alg, kid, pid, prev; one line
    log.close()
    verify_log(path, key)                 # raises ChainBroken naming the first bad record
"""

from mcpwarden.audit.chain import FORMAT_VERSION, Chain
from mcpwarden.audit.options import AuditOptions
from mcpwarden.audit.verify import VerifyReport, verify_log
from mcpwarden.audit.writer import AuditLog, DisabledAuditLog

__all__ = ["FORMAT_VERSION", "AuditLog", "AuditOptions", "Chain", "DisabledAuditLog", "VerifyReport", "verify_log"]
