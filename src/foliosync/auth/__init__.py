"""Users, password hashing and JWT bearer tokens."""
