"""Reporters turn a Report into text: ``table`` (rich, for people), ``json`` (documented in
docs/auditor.md), ``sarif`` (SARIF 2.1.0 for code scanning)."""
