"""Settings an admin can change: the default visit cycle, per-tag cycles, per-category time limits, and what
counts as contact (attempts before a household is unreachable, phone calls for households visited weekly)."""
import json

from fieldapp import rules
from fieldapp.data.db import insert, rows, write

# The settings table's keys and their defaults (a key absent: the default holds).
DEFAULTS = {"default_cycle_days": 30, "unreachable_attempts": rules.DEFAULT_UNREACHABLE_ATTEMPTS,
            "phone_calls_weekly": rules.DEFAULT_PHONE_CALLS_WEEKLY}


def _stored(db):
    """The stored values of DEFAULTS' keys, typed as their defaults; absent keys take the default."""
    found = {r["key"]: r["value"] for r in rows(db, "SELECT key, value FROM settings WHERE key IN "
                                                    "('default_cycle_days', 'unreachable_attempts', "
                                                    "'phone_calls_weekly')")}
    return {key: (found[key] == "1" if isinstance(default, bool) else int(found[key])) if key in found else default
            for key, default in DEFAULTS.items()}


def cycle_settings(db):
    """What the status queries need from the settings (one query): default_cycle, unreachable_attempts,
    phone_calls_weekly."""
    stored = _stored(db)
    return {"default_cycle": stored["default_cycle_days"], "unreachable_attempts": stored["unreachable_attempts"],
            "phone_calls_weekly": stored["phone_calls_weekly"]}


def current(db):
    """The default cycle in days, the contact settings, the tags with their cycles, the categories with their
    time limits."""
    return {
        **_stored(db),
        "tags": rows(db, "SELECT id, code, label, cycle_days FROM tags ORDER BY id"),
        "categories": rows(db, "SELECT code, label, due_days FROM categories ORDER BY position"),
    }


def _put(db, key, value):
    """Store one setting (flags as 1 or 0)."""
    text = str(int(value)) if isinstance(value, bool) else str(value)
    db.execute("INSERT INTO settings (key, value) VALUES (?, ?) "
               "ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, text])


def save(db, *, default_cycle_days, tag_cycles, category_days, user_id, ip=None, unreachable_attempts=None,
         phone_calls_weekly=None):
    """Store new cycles, time limits and contact settings in one transaction, with what changed in the audit log.

    tag_cycles maps a tag code to days (None: the tag keeps the default); category_days maps a
    category code to days; unreachable_attempts and phone_calls_weekly None leave them as they are.
    Returns the changes as {name: [before, after]}.
    """
    with write(db):
        before = current(db)
        changes = {}
        wanted = {"default_cycle_days": default_cycle_days, "unreachable_attempts": unreachable_attempts,
                  "phone_calls_weekly": phone_calls_weekly}
        for key, value in wanted.items():
            if value is not None and before[key] != value:
                changes[key] = [before[key], value]
                _put(db, key, value)
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
