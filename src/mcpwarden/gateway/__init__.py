"""The gateway: sessions, the guard pipeline, the relay and upstream lifecycle."""
