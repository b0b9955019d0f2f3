"""HTTP plumbing shared by every adapter: the transaction per request, authentication, errors."""
