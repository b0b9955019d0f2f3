"""Users, roles, permissions, login (password + TOTP) and API keys."""
