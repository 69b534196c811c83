"""JSON-RPC on bytes: framing, message classification, error construction. No sockets here."""
