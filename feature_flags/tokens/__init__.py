"""API tokens: who is calling (access), the /tokens API, the first-start token and the `flask tokens` commands."""
