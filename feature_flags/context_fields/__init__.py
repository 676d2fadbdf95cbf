"""Context fields: the attributes rules are written on, as applications send them and as admins describe them."""
