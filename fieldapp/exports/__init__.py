"""Exports: the one table writer with its formula guard (`tables`), the one download helper, audited
(`downloads`), and the export kinds an import reads again (`kinds`)."""
