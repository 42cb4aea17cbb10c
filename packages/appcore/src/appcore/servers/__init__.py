"""Server code of appcore's built-in server types (imported only when a service is made)."""
