"""The append-only audit log: who looked at or changed what, when, from where."""
import json

from fieldapp import rules
from fieldapp.data.db import insert, one, write


def log(db, *, user_id, action, target_type=None, target_id=None, detail=None, ip=None):
    """Append one entry (inside the caller's transaction when there is one); return its id."""
    with write(db):
        return insert(db, "audit_log", {
                "at": rules.iso(rules.utcnow()),
                "user_id": user_id,
                "action": action,
                "target_type": target_type,
                "target_id": target_id,
                "detail": json.dumps(detail or {}, ensure_ascii=False),
                "ip": ip,
            }
        )


def offline_copy_households(db, entry_id, user_id):
    """The household ids named by user_id's offline-copy entry entry_id (empty if there is no such entry)."""
    row = one(db, "SELECT detail FROM audit_log WHERE id = ? AND user_id = ? AND action = 'offline_copy'",
              [entry_id, user_id])
    return set(json.loads(row["detail"]).get("households", [])) if row else set()
