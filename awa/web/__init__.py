"""The web surfaces: the callback receiver and (with the UI) the admin app."""
