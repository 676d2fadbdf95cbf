"""People: sign-in through an OpenID Connect provider, server-side sessions, and the users admins manage."""
