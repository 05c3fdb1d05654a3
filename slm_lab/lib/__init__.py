"""Small shared helpers: atomic io, logging, seeding, paths. Depends on nothing else in the lab."""
