"""Components: one folder each, with the same few files (config, data, model, module, physics)."""
