"""Accounts: look-up, creation, sign-in bookkeeping."""
from fieldapp import rules
from fieldapp.data.db import one, rows, write


def get(db, user_id):
    """The user with user_id, or None."""
    return one(db, "SELECT * FROM users WHERE id = ?", [user_id])


def by_username(db, username):
    """The user with username (case-insensitive), or None."""
    return one(db, "SELECT * FROM users WHERE username = ?", [username.strip()])


def create(db, *, username, password_hash, role, display_name=None, grid_id=None,
           must_change_password=False):
    """Create an account and return its id."""
    with write(db):
        return db["users"].insert(
            {
                "username": username,
                "display_name": display_name or username,
                "password_hash": password_hash,
                "role": role,
                "grid_id": grid_id,
                "active": 1,
                "must_change_password": int(must_change_password),
                "created_at": rules.iso(rules.utcnow()),
            }
        ).last_pk


def record_login(db, user_id, password_hash=None):
    """Note a successful sign-in (and a rehashed password, when argon2's parameters changed)."""
    with write(db):
        db.execute("UPDATE users SET last_login_at = ? WHERE id = ?",
                   [rules.iso(rules.utcnow()), user_id])
        if password_hash:
            db.execute("UPDATE users SET password_hash = ? WHERE id = ?", [password_hash, user_id])


def set_active(db, user_id, active):
    """Enable or disable an account; disabling ends all its sessions at once."""
    with write(db):
        db.execute(
            "UPDATE users SET active = ?, session_epoch = session_epoch + ? WHERE id = ?",
            [int(active), 0 if active else 1, user_id],
        )


def listing(db):
    """All accounts, by role then name."""
    return rows(db, "SELECT id, username, display_name, role, grid_id, active, last_login_at "
                    "FROM users ORDER BY role, username")
