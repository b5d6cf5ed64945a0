"""Signed, verifiable audit log: RFC 6962 Merkle tree stored as C2SP tlog-tiles.

Typical use by the broker::

    from broker.audit.log import AuditLog
    from broker.audit.keys import load_or_create_log_key
    from broker.audit.records import decision_record

    log = AuditLog(settings.audit_dir, load_or_create_log_key(settings.audit_dir / "keys"),
                   origin="broker.example.com/audit")
    log.start()
    index = await log.append_async(decision_record(...))   # durable when it returns
    log.close()

Auditors use ``broker.audit.cli`` (``tollgate audit ...``) and ``broker.audit.api.router``.
Only ``api`` imports FastAPI; everything else is plain Python over ``cryptography``.
"""
