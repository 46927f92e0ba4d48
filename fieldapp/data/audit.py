"""The append-only audit log: who looked at or changed what, when, from where."""
import json

from fieldapp import rules
from fieldapp.data.db import write


def log(db, *, user_id, action, target_type=None, target_id=None, detail=None, ip=None):
    """Append one entry (inside the caller's transaction when there is one)."""
    with write(db):
        db["audit_log"].insert(
            {
                "at": rules.iso(rules.utcnow()),
                "user_id": user_id,
                "action": action,
                "target_type": target_type,
                "target_id": target_id,
                "detail": json.dumps(detail or {}, ensure_ascii=False),
                "ip": ip,
            }
        )
