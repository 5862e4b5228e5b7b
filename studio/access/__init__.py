"""Who may do what (roles and actors) and where the app may serve (local and team mode)."""
