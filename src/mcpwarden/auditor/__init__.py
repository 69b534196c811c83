"""The offline auditor: reads MCP client configs and agent skills, never starts a server.

discovery   which files each client reads (clients/), read defensively (files.py)
effective   which servers actually load (precedence, enabled lists, managed lists)
checks      one module per concern (checks/), metadata in checks/catalog.py
reporters   table, JSON, SARIF (reporters/)
baseline    findings accepted earlier stay visible, marked suppressed
protect     wrap servers in ``mcpwarden run`` and undo it byte for byte
"""
