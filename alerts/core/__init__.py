"""The shared kernel: settings, database, schema, runtime, i18n, taxonomy, tokens, logs, metrics."""
