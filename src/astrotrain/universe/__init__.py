"""The embedded default data: a simulated planet population whose climate comes from CLERO."""
