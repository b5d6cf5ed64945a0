"""Storage drivers for the audit log; the log format does not depend on which one is used."""
