"""Where the data lives: SQL, drivers and schema migrations behind one interface."""
