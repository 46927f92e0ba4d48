"""Settings an admin can change: the default visit cycle, per-tag cycles, per-category time limits."""
import json

from fieldapp import rules
from fieldapp.data.db import insert, rows, scalar, write


def current(db):
    """The default cycle in days, the tags with their cycles, the categories with their time limits."""
    return {
        "default_cycle_days": int(scalar(db, "SELECT value FROM settings WHERE key = 'default_cycle_days'") or 30),
        "tags": rows(db, "SELECT id, code, label, cycle_days FROM tags ORDER BY id"),
        "categories": rows(db, "SELECT code, label, due_days FROM categories ORDER BY position"),
    }


def save(db, *, default_cycle_days, tag_cycles, category_days, user_id, ip=None):
    """Store new cycles and time limits in one transaction, with what changed in the audit log.

    tag_cycles maps a tag code to days (None: the tag keeps the default); category_days maps a
    category code to days. Returns the changes as {name: [before, after]}.
    """
    with write(db):
        before = current(db)
        changes = {}
        if before["default_cycle_days"] != default_cycle_days:
            changes["default_cycle_days"] = [before["default_cycle_days"], default_cycle_days]
            db.execute("INSERT INTO settings (key, value) VALUES ('default_cycle_days', ?) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value", [str(default_cycle_days)])
        for tag in before["tags"]:
            days = tag_cycles.get(tag["code"], tag["cycle_days"])
            if days != tag["cycle_days"]:
                changes[f"tag:{tag['code']}"] = [tag["cycle_days"], days]
                db.execute("UPDATE tags SET cycle_days = ? WHERE id = ?", [days, tag["id"]])
        for category in before["categories"]:
            days = category_days.get(category["code"], category["due_days"])
            if days != category["due_days"]:
                changes[f"category:{category['code']}"] = [category["due_days"], days]
                db.execute("UPDATE categories SET due_days = ? WHERE code = ?", [days, category["code"]])
        if changes:
            insert(db, "audit_log", {"at": rules.iso(rules.utcnow()), "user_id": user_id, "action": "settings",
                                    "target_type": "settings", "target_id": None,
                                    "detail": json.dumps(changes, ensure_ascii=False), "ip": ip})
    return changes
