"""Accounts: look-up, creation, sign-in bookkeeping."""
from fieldapp import rules
from fieldapp.data.db import insert, one, rows, write


def get(db, user_id):
    """The user with user_id, or None."""
    return one(db, "SELECT * FROM users WHERE id = ?", [user_id])


def by_username(db, username):
    """The user with username (case-insensitive), or None."""
    return one(db, "SELECT * FROM users WHERE username = ?", [username.strip()])


def create(db, *, username, password_hash, role, display_name=None, grid_id=None,
           must_change_password=False, partner_id=None):
    """Create an account and return its id (a partner's belongs to its platform, partner_id)."""
    with write(db):
        return insert(db, "users", {
                "username": username,
                "display_name": display_name or username,
                "password_hash": password_hash,
                "role": role,
                "grid_id": grid_id,
                "partner_id": partner_id,
                "active": 1,
                "must_change_password": int(must_change_password),
                "created_at": rules.iso(rules.utcnow()),
            }
        )


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


def accounts(db):
    """All accounts with their grid's name and how many cells each holds now, by role then name."""
    return rows(db, "SELECT u.id, u.username, u.display_name, u.role, u.grid_id, g.name AS grid_name, u.active, "
                    "u.must_change_password, u.last_login_at, p.name AS partner_name, "
                    "(SELECT count(*) FROM assignments a WHERE a.user_id = u.id AND a.valid_to IS NULL) AS cells "
                    "FROM users u LEFT JOIN grids g ON g.id = u.grid_id LEFT JOIN partners p ON p.id = u.partner_id "
                    "ORDER BY u.role, u.username")


def set_password(db, user_id, password_hash, must_change):
    """Set a new password; every other session of the user ends (the epoch moves on)."""
    with write(db):
        db.execute("UPDATE users SET password_hash = ?, must_change_password = ?, session_epoch = session_epoch + 1 "
                   "WHERE id = ?", [password_hash, int(must_change), user_id])


def grids(db):
    """The grids a leader can lead, by code."""
    return rows(db, "SELECT id, code, name FROM grids ORDER BY code")


def end_sessions(db, user_id):
    """End every session of the user, on every device (sign-out everywhere): the epoch moves on."""
    with write(db):
        db.execute("UPDATE users SET session_epoch = session_epoch + 1 WHERE id = ?", [user_id])
