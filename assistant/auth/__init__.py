"""Who is asking: accounts, sessions, tokens, proxy sign-on, and collection access rules."""
