"""Accounts: sign up, log in and out, passwords, sessions and API tokens."""
