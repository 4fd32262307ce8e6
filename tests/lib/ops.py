"""ops.py — the DB service's write operations the suites send (the "op" of
POST /api/v1/db/write), and the one password every test user has.

The password is a 40-digit hex string (a SHA-1, as the API requires); a ride
is created by a user who must exist first ("owner" unless told otherwise).
"""

PASSWORD = "3d725109c7e7c0bfb9d709836735b56d943d263f"


def user(name):
    return {"op": "insert", "table": "users", "values": {"username": name, "password": PASSWORD}}


def ride(ts, by="owner", src=1, dst=2):
    return {"op": "insert", "table": "rides",
            "values": {"created_by": by, "ts": ts, "source": src, "destination": dst}}
